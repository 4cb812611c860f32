#include "worker/train/train_step.h"

#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/train/test_util.h"
#include "worker/model/masking.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/optimizer.h"
#include "worker/train/param_groups.h"

namespace vmae::train {
namespace {

using ::vmae::train::testing::SingleThreadTest;

// 4 frames of 16x16, tubelet 2, patch 8: 2 x 2 x 2 = 8 tokens of 384 values.
model::ModelOptions TinyOptions() {
  return model::ModelOptions()
      .embed_dim(32)
      .depth(2)
      .num_heads(2)
      .decoder_embed_dim(16)
      .decoder_depth(1)
      .decoder_num_heads(2)
      .patch_size(8)
      .tubelet_size(2)
      .num_frames(4)
      .image_size(16)
      .num_classes(3);
}

NamedParameters NamedParametersOf(const torch::nn::Module& module) {
  NamedParameters out;
  for (const auto& item : module.named_parameters()) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

GroupedAdamW MakeOptimizer(const torch::nn::Module& module, const AdamWConfig& config,
                           double weight_decay = 0.05) {
  ParamGroupOptions group_options;
  group_options.weight_decay = weight_decay;
  auto groups = BuildParamGroups(NamedParametersOf(module), group_options);
  EXPECT_TRUE(groups.ok()) << groups.status();
  auto optimizer = GroupedAdamW::Create(*groups, config);
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  return std::move(optimizer).value();
}

// Tube masks hiding 2 of the 4 tokens of each slice, one per clip.
at::Tensor TinyMask(int64_t batch, uint64_t seed) {
  return model::MaskBatch(model::MaskType::kTube, batch, model::GridOf(TinyOptions()), 0.5,
                          model::MakeGenerator(seed));
}

class TrainStepTest : public SingleThreadTest {
 protected:
  void SetUp() override {
    SingleThreadTest::SetUp();
    torch::manual_seed(7);
  }
};

TEST_F(TrainStepTest, PretrainingOverfitsOneBatch) {
  model::PretrainVisionTransformer net(TinyOptions());
  net->train();
  AdamWConfig config;
  config.beta2 = 0.95;
  GroupedAdamW optimizer = MakeOptimizer(*net, config);
  ApplySchedule(optimizer, /*lr=*/2e-3, /*wd=*/0.05);
  TrainStepper stepper(&optimizer, /*schedule=*/nullptr, StepOptions());
  const at::Tensor clips = torch::randn({2, 3, 4, 16, 16});
  const at::Tensor mask = TinyMask(2, 1);

  const double first = PretrainStep(net, stepper, clips, mask, {}, PretrainLossOptions()).loss;
  // The normalised target has unit variance per patch and channel and the
  // freshly initialised decoder predicts values near 0: the MSE starts near 1.
  EXPECT_GT(first, 0.5);
  double last = first;
  int steps = 1;
  for (; steps < 300 && last > 0.1 * first; ++steps) {
    last = PretrainStep(net, stepper, clips, mask, {}, PretrainLossOptions()).loss;
  }
  EXPECT_LT(last, 0.1 * first) << "after " << steps << " steps";
  EXPECT_EQ(stepper.samples_seen(), 2 * steps);
}

TEST_F(TrainStepTest, PretrainingWithDecoderMaskAndL1Runs) {
  model::PretrainVisionTransformer net(TinyOptions());
  GroupedAdamW optimizer = MakeOptimizer(*net, AdamWConfig());
  ApplySchedule(optimizer, 1e-3, 0.05);
  TrainStepper stepper(&optimizer, nullptr, StepOptions());
  const at::Tensor clips = torch::randn({2, 3, 4, 16, 16});
  const at::Tensor decoder_mask = model::RunningCellDecoderMaskBatch(
      2, model::GridOf(TinyOptions()), 0.5, model::MakeGenerator(3));
  PretrainLossOptions loss;
  loss.kind = model::LossKind::kL1;
  loss.normalize_target = false;
  const StepResult r = PretrainStep(net, stepper, clips, TinyMask(2, 2), decoder_mask, loss);
  EXPECT_TRUE(r.optimizer_stepped);
  EXPECT_TRUE(std::isfinite(r.loss));
  EXPECT_GT(r.grad_norm, 0.0);
}

TEST_F(TrainStepTest, FinetuningOverfitsOneBatch) {
  model::VisionTransformer net(TinyOptions());
  net->train();
  GroupedAdamW optimizer = MakeOptimizer(*net, AdamWConfig());
  ApplySchedule(optimizer, 2e-3, 0.05);
  TrainStepper stepper(&optimizer, nullptr, StepOptions());
  const at::Tensor clips = torch::randn({4, 3, 4, 16, 16});
  const at::Tensor labels = torch::tensor({0, 1, 2, 1}, torch::kInt64);

  const double first = FinetuneStep(net, stepper, clips, labels).loss;
  // init_scale 0.001 makes the logits nearly equal: cross-entropy ~ ln(3).
  EXPECT_NEAR(first, std::log(3.0), 0.01);
  double last = first;
  int steps = 1;
  for (; steps < 200 && last > 0.05 * first; ++steps) {
    last = FinetuneStep(net, stepper, clips, labels).loss;
  }
  EXPECT_LT(last, 0.05 * first) << "after " << steps << " steps";
}

TEST_F(TrainStepTest, SoftTargetLossOfUniformLogitsIsLogClasses) {
  model::VisionTransformer net(TinyOptions());
  {
    torch::NoGradGuard no_grad;
    net->head->weight.zero_();
    net->head->bias.zero_();
  }
  GroupedAdamW optimizer = MakeOptimizer(*net, AdamWConfig());
  TrainStepper stepper(&optimizer, nullptr, StepOptions());
  const at::Tensor clips = torch::randn({2, 3, 4, 16, 16});
  // Any targets that sum to 1 per clip: -sum(t * log(1/3)) = ln 3.
  const at::Tensor soft = torch::tensor({{0.7f, 0.2f, 0.1f}, {0.0f, 0.5f, 0.5f}});
  EXPECT_NEAR(FinetuneStep(net, stepper, clips, soft).loss, std::log(3.0), 1e-6);
  // A pluggable loss sees the logits [B, classes].
  std::vector<int64_t> sizes;
  const StepResult r = FinetuneStep(net, stepper, clips, [&sizes](const at::Tensor& logits) {
    sizes = logits.sizes().vec();
    return logits.square().sum();
  });
  EXPECT_THAT(sizes, ::testing::ElementsAre(2, 3));
  EXPECT_TRUE(r.optimizer_stepped);
}

TEST_F(TrainStepTest, AccumulatingTwoMicroBatchesEqualsOneFullBatchStep) {
  model::PretrainVisionTransformer full_net(TinyOptions());
  auto accum_net = std::dynamic_pointer_cast<model::PretrainVisionTransformerImpl>(
      full_net->clone());
  ASSERT_NE(accum_net, nullptr);
  model::PretrainVisionTransformer accum_model(accum_net);
  // eps 1 makes the first AdamW update lr * g / (|g| + 1), close to linear
  // in the gradient, so the parameters after the step compare the
  // accumulated gradients themselves (eps 1e-8 would give lr * sign(g)).
  AdamWConfig config;
  config.eps = 1.0;
  GroupedAdamW full_opt = MakeOptimizer(*full_net, config, /*weight_decay=*/0.0);
  GroupedAdamW accum_opt = MakeOptimizer(*accum_model, config, 0.0);
  ApplySchedule(full_opt, 1.0, 0.0);
  ApplySchedule(accum_opt, 1.0, 0.0);
  StepOptions full_options;
  StepOptions accum_options;
  accum_options.accum_steps = 2;
  TrainStepper full(&full_opt, nullptr, full_options);
  TrainStepper accum(&accum_opt, nullptr, accum_options);

  const at::Tensor clips = torch::randn({4, 3, 4, 16, 16});
  const at::Tensor mask = TinyMask(4, 5);
  const at::Tensor initial = full_net->encoder_to_decoder->weight.detach().clone();
  const StepResult whole = PretrainStep(full_net, full, clips, mask, {}, PretrainLossOptions());
  const StepResult a = PretrainStep(accum_model, accum, clips.slice(0, 0, 2), mask.slice(0, 0, 2),
                                    {}, PretrainLossOptions());
  EXPECT_FALSE(a.optimizer_stepped);
  const StepResult b = PretrainStep(accum_model, accum, clips.slice(0, 2, 4), mask.slice(0, 2, 4),
                                    {}, PretrainLossOptions());
  ASSERT_TRUE(whole.optimizer_stepped);
  ASSERT_TRUE(b.optimizer_stepped);
  // Every clip has the same masked count, so the full-batch mean is the
  // mean of the two halves' means.
  EXPECT_NEAR(whole.loss, 0.5 * (a.loss + b.loss), 1e-6);
  EXPECT_NEAR(whole.grad_norm, b.grad_norm, 1e-6 * whole.grad_norm);
  EXPECT_EQ(full.samples_seen(), 4);
  EXPECT_EQ(accum.samples_seen(), 4);

  const auto expected = full_net->named_parameters();
  const auto actual = accum_model->named_parameters();
  ASSERT_EQ(expected.size(), actual.size());
  double worst = 0.0;
  for (const auto& item : expected) {
    const at::Tensor diff = (item.value() - actual[item.key()]).abs().max();
    worst = std::max(worst, diff.item<double>());
  }
  EXPECT_LT(worst, 1e-6);
  // The step moved them: the comparison is not vacuous.
  const at::Tensor moved =
      (full_net->encoder_to_decoder->weight.detach() - initial).abs().max();
  EXPECT_GT(moved.item<double>(), 1e-3);
}

TEST_F(TrainStepTest, StepLrIsTheScheduleValueAtTheSampleCount) {
  model::VisionTransformer net(TinyOptions());
  GroupedAdamW optimizer = MakeOptimizer(*net, AdamWConfig());
  // Global batch 4 = 2 clips x 2 micro-batches; peak lr = 0.0128 * 4 / 256
  // = 2e-4; one warmup epoch of 4 steps, then 4 cosine steps to 0.
  TrainScheduleOptions schedule_options;
  schedule_options.lr = 0.0128;
  schedule_options.min_lr = 0.0;
  schedule_options.epochs = 2;
  schedule_options.warmup_epochs = 1;
  schedule_options.global_batch = 4;
  schedule_options.steps_per_epoch = 4;
  auto schedule = TrainSchedule::Create(schedule_options);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  // np.linspace(0, 2e-4, 4), then 1e-4 * (1 + cos(pi * i / 4)).
  const double kPi = std::acos(-1.0);
  const std::vector<double> expected = {0.0,
                                        2e-4 / 3,
                                        4e-4 / 3,
                                        2e-4,
                                        2e-4,
                                        1e-4 * (1 + std::cos(kPi / 4)),
                                        1e-4,
                                        1e-4 * (1 + std::cos(3 * kPi / 4))};
  StepOptions options;
  options.accum_steps = 2;
  TrainStepper stepper(&optimizer, &*schedule, options, /*samples_seen=*/0);
  const at::Tensor clips = torch::randn({2, 3, 4, 16, 16});
  const at::Tensor labels = torch::tensor({0, 2}, torch::kInt64);
  const at::Tensor before = net->head->bias.detach().clone();
  for (int64_t micro = 0; micro < 16; ++micro) {
    const int64_t step = micro / 2;
    const StepResult r = FinetuneStep(net, stepper, clips, labels);
    EXPECT_DOUBLE_EQ(r.lr, expected[static_cast<size_t>(step)]) << "micro-batch " << micro;
    EXPECT_DOUBLE_EQ(r.weight_decay, 0.05);
    EXPECT_EQ(r.optimizer_stepped, micro % 2 == 1);
    // Each completed step adds the global batch.
    EXPECT_EQ(r.samples_seen, 4 * ((micro + 1) / 2)) << "micro-batch " << micro;
    for (size_t g = 0; g < optimizer.num_groups(); ++g) {
      EXPECT_DOUBLE_EQ(optimizer.group_lr(g), expected[static_cast<size_t>(step)]);
    }
    if (micro == 1) {
      // The first step has lr 0: nothing may move.
      EXPECT_TRUE(torch::equal(net->head->bias.detach(), before));
    }
  }
  EXPECT_FALSE(torch::equal(net->head->bias.detach(), before));
  // Every group's lr was the scheduled one times its scale (1 here); the
  // decaying group kept the scheduled weight decay and no_decay stayed 0.
  EXPECT_DOUBLE_EQ(optimizer.group_weight_decay(0), 0.05);
  EXPECT_DOUBLE_EQ(optimizer.group_weight_decay(1), 0.0);
}

TEST_F(TrainStepTest, FusedCpuAdamWMatchesLibTorchAdamW) {
  model::VisionTransformer fused_net(TinyOptions());
  auto plain_impl =
      std::dynamic_pointer_cast<model::VisionTransformerImpl>(fused_net->clone());
  ASSERT_NE(plain_impl, nullptr);
  model::VisionTransformer plain_net(plain_impl);
  AdamWConfig config;
  config.beta2 = 0.95;
  GroupedAdamW fused_opt = MakeOptimizer(*fused_net, config);
  GroupedAdamW plain_opt = MakeOptimizer(*plain_net, config);
  ApplySchedule(fused_opt, 1e-3, 0.05);
  ApplySchedule(plain_opt, 1e-3, 0.05);
  StepOptions fused_options;
  StepOptions plain_options;
  plain_options.fused_adamw = false;  // torch::optim::AdamW::step()
  TrainStepper fused(&fused_opt, nullptr, fused_options);
  TrainStepper plain(&plain_opt, nullptr, plain_options);
  const at::Tensor clips = torch::randn({2, 3, 4, 16, 16});
  const at::Tensor labels = torch::tensor({1, 2}, torch::kInt64);
  for (int step = 0; step < 3; ++step) {
    FinetuneStep(fused_net, fused, clips, labels);
    FinetuneStep(plain_net, plain, clips, labels);
  }
  const auto expected = plain_net->named_parameters();
  const auto actual = fused_net->named_parameters();
  double worst = 0.0;
  for (const auto& item : expected) {
    worst = std::max(worst, (item.value() - actual[item.key()]).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-6);
  // Both keep their moments and step counts in LibTorch's AdamW state.
  EXPECT_EQ(fused_opt.adamw().state().size(), plain_opt.adamw().state().size());
}

TEST(PrecisionTest, ParsesTheThreeNames) {
  EXPECT_EQ(ParsePrecision("fp32"), Precision::kFloat32);
  EXPECT_EQ(ParsePrecision("bf16"), Precision::kBFloat16);
  EXPECT_EQ(ParsePrecision("fp16"), Precision::kFloat16);
  EXPECT_EQ(ParsePrecision("half"), std::nullopt);
  EXPECT_STREQ(PrecisionName(Precision::kBFloat16), "bf16");
}

}  // namespace
}  // namespace vmae::train
