#include "worker/train/optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/train/test_util.h"
#include "worker/train/param_groups.h"

namespace vmae::train {
namespace {

using ::vmae::train::testing::StatusIs;

class OptimizerTest : public ::vmae::train::testing::SingleThreadTest {};

torch::Tensor Leaf(std::vector<float> values, std::vector<int64_t> shape) {
  return torch::tensor(values).reshape(shape).requires_grad_(true);
}

void ExpectValues(const torch::Tensor& t, const std::vector<float>& expected) {
  const torch::Tensor flat = t.detach().flatten().contiguous();
  ASSERT_EQ(flat.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_FLOAT_EQ(flat[static_cast<int64_t>(i)].item<float>(), expected[i]) << "element " << i;
  }
}

TEST_F(OptimizerTest, AdamWMatchesPyTorchOverScheduledSteps) {
  // Three parameters in three groups built the authors' way: depth 1, layer
  // decay 0.5 gives values [0.25, 0.5, 1]; blocks.0.* has layer id 1 (scale
  // 0.5), head.weight id 2 (scale 1). fc.bias is 1-D: no decay.
  NamedParameters named;
  named.emplace_back("blocks.0.fc.weight", Leaf({0.5f, -1.0f, 2.0f, 0.25f, 0.0f, -0.75f}, {2, 3}));
  named.emplace_back("blocks.0.fc.bias", Leaf({0.1f, -0.2f, 0.3f}, {3}));
  named.emplace_back("head.weight", Leaf({1.5f, -2.5f, 0.125f}, {1, 3}));
  ParamGroupOptions group_options;
  group_options.weight_decay = 0.05;
  group_options.layer_decay = 0.5;
  group_options.depth = 1;
  absl::StatusOr<std::vector<ParamGroup>> groups = BuildParamGroups(named, group_options);
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 3u);

  AdamWConfig config;
  config.beta1 = 0.9;
  config.beta2 = 0.95;
  config.eps = 1e-8;
  absl::StatusOr<GroupedAdamW> opt = GroupedAdamW::Create(*groups, config);
  ASSERT_OK(opt);
  ASSERT_EQ(opt->num_groups(), 3u);
  EXPECT_EQ(opt->group_name(0), "layer_1_decay");
  EXPECT_EQ(opt->lr_scale(0), 0.5);
  EXPECT_EQ(opt->group_name(1), "layer_1_no_decay");
  EXPECT_EQ(opt->lr_scale(1), 0.5);
  EXPECT_EQ(opt->group_name(2), "layer_2_decay");
  EXPECT_EQ(opt->lr_scale(2), 1.0);

  torch::Tensor w = named[0].second;
  torch::Tensor b = named[1].second;
  torch::Tensor h = named[2].second;
  const double lrs[] = {1e-3, 2e-3, 5e-4};
  const double wds[] = {0.05, 0.04, 0.03};
  for (int step = 0; step < 3; ++step) {
    ApplySchedule(*opt, lrs[step], wds[step]);
    const float s = static_cast<float>(step + 1);
    w.mutable_grad() =
        torch::tensor({0.1f * s, -0.2f, 0.3f, -0.4f, 0.5f / s, 0.0f}).reshape({2, 3});
    b.mutable_grad() = torch::tensor({1.0f, -1.0f * s, 0.25f});
    h.mutable_grad() = torch::tensor({0.01f, -3.0f, 2.0f * s}).reshape({1, 3});
    opt->Step();
  }
  // PyTorch 1.13's torch.optim.AdamW (/usr/bin/python3, Debian) on the same
  // tensors, groups {lr_scale 0.5, wd 0.05}, {0.5, 0}, {1, 0.05}, betas
  // (0.9, 0.95), eps 1e-8, the same per-step update of lr and weight decay
  // and the same gradients; the printed float values:
  //   import torch
  //   w = torch.tensor([[0.5, -1.0, 2.0], [0.25, 0.0, -0.75]], requires_grad=True)
  //   b = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
  //   h = torch.tensor([[1.5, -2.5, 0.125]], requires_grad=True)
  //   opt = torch.optim.AdamW([
  //       {"params": [w], "weight_decay": 0.05, "lr_scale": 0.5},
  //       {"params": [b], "weight_decay": 0.0, "lr_scale": 0.5},
  //       {"params": [h], "weight_decay": 0.05, "lr_scale": 1.0}],
  //       lr=0.0, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0)
  //   for step, (lr, wd) in enumerate(zip([1e-3, 2e-3, 5e-4], [0.05, 0.04, 0.03])):
  //       for g in opt.param_groups:
  //           g["lr"] = lr * g["lr_scale"]
  //           if g["weight_decay"] > 0: g["weight_decay"] = wd
  //       s = step + 1
  //       w.grad = torch.tensor([[0.1 * s, -0.2, 0.3], [-0.4, 0.5 / s, 0.0]])
  //       b.grad = torch.tensor([1.0, -1.0 * s, 0.25])
  //       h.grad = torch.tensor([[0.01, -3.0, 2.0 * s]])
  //       opt.step()
  ExpectValues(w, {0.4982696771621704f, -0.9981775283813477f, 1.9981050491333008f,
                   0.25173187255859375f, -0.0016612056642770767f, -0.7499457001686096f});
  ExpectValues(b, {0.09825000166893005f, -0.1983059048652649f, 0.2982500195503235f});
  ExpectValues(h, {1.4962825775146484f, -2.496137857437134f, 0.12159377336502075f});
}

TEST_F(OptimizerTest, AdamWFirstStepByHand) {
  // Step 1: m_hat = g and sqrt(v_hat) = |g|, so
  // p1 = p0 * (1 - lr * wd) - lr * g / (|g| + eps).
  NamedParameters named;
  named.emplace_back("head.weight", Leaf({1.0f, -2.0f}, {1, 2}));
  absl::StatusOr<std::vector<ParamGroup>> groups = BuildParamGroups(named, ParamGroupOptions{});
  ASSERT_OK(groups);
  absl::StatusOr<GroupedAdamW> opt = GroupedAdamW::Create(*groups, AdamWConfig{});
  ASSERT_OK(opt);
  ApplySchedule(*opt, 0.1, 0.1);
  named[0].second.mutable_grad() = torch::tensor({0.5f, -0.25f}).reshape({1, 2});
  opt->Step();
  const double lr = 0.1;
  const double wd = 0.1;
  const double eps = 1e-8;
  const double p0 = 1.0 * (1 - lr * wd) - lr * 0.5 / (0.5 + eps);     // 0.89
  const double p1 = -2.0 * (1 - lr * wd) + lr * 0.25 / (0.25 + eps);  // -1.88
  EXPECT_NEAR(named[0].second[0][0].item<double>(), p0, 1e-6);
  EXPECT_NEAR(named[0].second[0][1].item<double>(), p1, 1e-6);
  EXPECT_NEAR(p0, 0.89, 1e-7);
  EXPECT_NEAR(p1, -1.88, 1e-7);
}

TEST_F(OptimizerTest, ApplyScheduleScalesLrAndDecaysOnlyDecayingGroups) {
  NamedParameters named;
  named.emplace_back("patch_embed.proj.weight", Leaf({1, 2, 3, 4}, {2, 2}));
  named.emplace_back("patch_embed.proj.bias", Leaf({1, 2}, {2}));
  named.emplace_back("blocks.0.attn.qkv.weight", Leaf({1, 2, 3, 4}, {2, 2}));
  named.emplace_back("head.weight", Leaf({1, 2}, {1, 2}));
  ParamGroupOptions group_options;
  group_options.layer_decay = 0.75;
  group_options.depth = 1;  // values [0.75^2, 0.75, 1]
  absl::StatusOr<std::vector<ParamGroup>> groups = BuildParamGroups(named, group_options);
  ASSERT_OK(groups);
  absl::StatusOr<GroupedAdamW> opt = GroupedAdamW::Create(*groups, AdamWConfig{});
  ASSERT_OK(opt);
  ASSERT_EQ(opt->num_groups(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(opt->group_lr(i), 0.0) << "lr starts at 0 until the first ApplySchedule";
  }
  EXPECT_EQ(opt->group_weight_decay(0), 0.05);
  EXPECT_EQ(opt->group_weight_decay(1), 0.0);

  ApplySchedule(*opt, 1e-3, 0.04);
  EXPECT_EQ(opt->group_name(0), "layer_0_decay");
  EXPECT_EQ(opt->group_lr(0), 1e-3 * 0.5625);
  EXPECT_EQ(opt->group_weight_decay(0), 0.04);
  EXPECT_EQ(opt->group_name(1), "layer_0_no_decay");
  EXPECT_EQ(opt->group_lr(1), 1e-3 * 0.5625);
  EXPECT_EQ(opt->group_weight_decay(1), 0.0);
  EXPECT_EQ(opt->group_name(2), "layer_1_decay");
  EXPECT_EQ(opt->group_lr(2), 1e-3 * 0.75);
  EXPECT_EQ(opt->group_weight_decay(2), 0.04);
  EXPECT_EQ(opt->group_name(3), "layer_2_decay");
  EXPECT_EQ(opt->group_lr(3), 1e-3);
  EXPECT_EQ(opt->Parameters().size(), 4u);
}

TEST_F(OptimizerTest, CreateRejectsEmptyAndBadConfig) {
  EXPECT_THAT(GroupedAdamW::Create({}, AdamWConfig{}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  NamedParameters named;
  named.emplace_back("head.weight", Leaf({1, 2}, {1, 2}));
  absl::StatusOr<std::vector<ParamGroup>> groups = BuildParamGroups(named, ParamGroupOptions{});
  ASSERT_OK(groups);
  AdamWConfig bad;
  bad.beta2 = 1.0;
  EXPECT_THAT(GroupedAdamW::Create(*groups, bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

struct ClipFixture {
  torch::Tensor a = Leaf({0, 0}, {1, 2});
  torch::Tensor b = Leaf({0}, {1});
  torch::Tensor c = Leaf({0}, {1});  // never gets a gradient
  ClipFixture() {
    a.mutable_grad() = torch::tensor({3.0f, 4.0f}).reshape({1, 2});
    b.mutable_grad() = torch::tensor({12.0f});
  }
  std::vector<torch::Tensor> params() const { return {a, b, c}; }
};

TEST_F(OptimizerTest, ClipGradNormReturnsTotalNormAndClips) {
  // sqrt(3^2 + 4^2 + 12^2) = sqrt(169) = 13; c has no gradient.
  {
    ClipFixture f;
    EXPECT_NEAR(ClipGradNorm(f.params(), 0.0), 13.0, 1e-5);  // off: norm only
    ExpectValues(f.a.grad(), {3.0f, 4.0f});
    ExpectValues(f.b.grad(), {12.0f});
  }
  {
    ClipFixture f;
    EXPECT_NEAR(ClipGradNorm(f.params(), 100.0), 13.0, 1e-5);  // above the norm: unchanged
    ExpectValues(f.a.grad(), {3.0f, 4.0f});
    ExpectValues(f.b.grad(), {12.0f});
  }
  {
    ClipFixture f;
    EXPECT_NEAR(ClipGradNorm(f.params(), 6.5), 13.0, 1e-5);
    // Scaled by 6.5 / (13 + 1e-6), i.e. just under one half.
    const double coef = 6.5 / (13.0 + 1e-6);
    EXPECT_NEAR(f.a.grad()[0][0].item<double>(), 3.0 * coef, 1e-6);
    EXPECT_NEAR(f.a.grad()[0][1].item<double>(), 4.0 * coef, 1e-6);
    EXPECT_NEAR(f.b.grad()[0].item<double>(), 12.0 * coef, 1e-6);
    EXPECT_LT(f.b.grad()[0].item<double>(), 6.0);
    EXPECT_NEAR(ClipGradNorm(f.params(), 0.0), 6.5, 1e-5);
  }
  EXPECT_EQ(ClipGradNorm({Leaf({1}, {1})}, 1.0), 0.0);  // no gradients at all
}

TEST_F(OptimizerTest, GradAccumulatorCountsMicroBatches) {
  GradAccumulator acc(4);
  int steps = 0;
  for (int micro = 0; micro < 12; ++micro) {
    EXPECT_EQ(acc.AtStepStart(), micro % 4 == 0) << micro;
    EXPECT_EQ(acc.micro_batch(), micro % 4);
    if (acc.EndMicroBatch()) {
      ++steps;
      EXPECT_EQ(micro % 4, 3);
    }
  }
  EXPECT_EQ(steps, 3);
  EXPECT_FLOAT_EQ(acc.ScaleLoss(torch::tensor(8.0f)).item<float>(), 2.0f);
  GradAccumulator one(1);
  EXPECT_TRUE(one.EndMicroBatch());
  EXPECT_TRUE(one.AtStepStart());
}

TEST_F(OptimizerTest, AccumulatedGradientEqualsFullBatchGradient) {
  // Mean squared error of a linear model over 8 samples, once as one batch
  // and once as 4 micro-batches of 2 with each mean loss divided by 4.
  const torch::Tensor x = torch::arange(16, torch::kFloat32).reshape({8, 2}) / 10.0;
  const torch::Tensor t = torch::arange(8, torch::kFloat32) / 4.0 - 1.0;
  torch::Tensor w_full = Leaf({0.3f, -0.7f}, {2});
  torch::mse_loss(torch::matmul(x, w_full), t).backward();

  torch::Tensor w_acc = Leaf({0.3f, -0.7f}, {2});
  GradAccumulator acc(4);
  bool stepped = false;
  for (int64_t m = 0; m < 4; ++m) {
    const torch::Tensor xs = x.slice(0, 2 * m, 2 * m + 2);
    const torch::Tensor ts = t.slice(0, 2 * m, 2 * m + 2);
    acc.ScaleLoss(torch::mse_loss(torch::matmul(xs, w_acc), ts)).backward();
    stepped = acc.EndMicroBatch();
  }
  EXPECT_TRUE(stepped);
  EXPECT_TRUE(torch::allclose(w_acc.grad(), w_full.grad(), 1e-6, 1e-7))
      << w_acc.grad() << " vs " << w_full.grad();
}

}  // namespace
}  // namespace vmae::train
