#include "worker/train/lr_schedule.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/train/test_util.h"

namespace vmae::train {
namespace {

using ::vmae::train::testing::StatusIs;

class LrScheduleTest : public ::vmae::train::testing::SingleThreadTest {};

constexpr double kPi = 3.141592653589793;  // math.pi

// Relative closeness for hand-computed values (a few ulps of rounding apart
// from the formula's own order of operations).
void ExpectClose(double actual, double expected) {
  EXPECT_NEAR(actual, expected, 1e-12 * std::abs(expected)) << "expected " << expected;
}

// cosine_scheduler(1e-3, 1e-5, epochs=10, niter_per_ep=4, warmup_epochs=2):
// 8 warmup iterations, 32 cosine iterations, 40 in all.
CosineScheduleOptions SmallOptions() {
  CosineScheduleOptions o;
  o.base_value = 1e-3;
  o.final_value = 1e-5;
  o.epochs = 10;
  o.niter_per_ep = 4;
  o.warmup_epochs = 2;
  return o;
}

TEST_F(LrScheduleTest, WarmupIsLinspaceWithEndpoint) {
  absl::StatusOr<CosineSchedule> s = CosineSchedule::Create(SmallOptions());
  ASSERT_OK(s);
  EXPECT_EQ(s->total_iters(), 40);
  EXPECT_EQ(s->warmup_iters(), 8);
  // np.linspace(0, 1e-3, 8): step (1e-3 - 0) / 7, value it * step, and the
  // endpoint is exactly base_value.
  EXPECT_EQ(s->At(0), 0.0);
  ExpectClose(s->At(1), 1e-3 / 7);
  ExpectClose(s->At(3), 3e-3 / 7);
  ExpectClose(s->At(6), 6e-3 / 7);
  EXPECT_EQ(s->At(7), 1e-3);
}

TEST_F(LrScheduleTest, CosinePartByHand) {
  absl::StatusOr<CosineSchedule> s = CosineSchedule::Create(SmallOptions());
  ASSERT_OK(s);
  // it >= 8: i = it - 8, n = 32;
  // value = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + cos(pi * i / 32))
  //       = 1e-5 + 4.95e-4 * (1 + cos(pi * i / 32)).
  // First cosine iteration (i = 0, cos 0 = 1): 1e-5 + 9.9e-4 = 1e-3, the
  // same value as the last warmup iteration.
  ExpectClose(s->At(8), 1e-3);
  // i = 8: cos(pi / 4) = sqrt(2) / 2.
  ExpectClose(s->At(16), 1e-5 + 4.95e-4 * (1.0 + std::sqrt(2.0) / 2.0));
  // Midpoint i = 16: cos(pi / 2) = 0, so 1e-5 + 4.95e-4 = 5.05e-4.
  ExpectClose(s->At(24), 5.05e-4);
  // Last iteration i = 31: cos(31 pi / 32) = -cos(pi / 32), and by halving
  // the angle from pi / 4 three times,
  // cos(pi / 32) = sqrt(2 + sqrt(2 + sqrt(2 + sqrt(2)))) / 2 = 0.9951847266...
  // The divisor is n = 32, not 31, so the last value stays above final.
  const double cos_pi_32 = std::sqrt(2.0 + std::sqrt(2.0 + std::sqrt(2.0 + std::sqrt(2.0)))) / 2.0;
  EXPECT_NEAR(cos_pi_32, 0.9951847266, 1e-10);
  ExpectClose(s->At(39), 1e-5 + 4.95e-4 * (1.0 - cos_pi_32));  // 1.23835602...e-5
  EXPECT_GT(s->At(39), 1e-5);
}

TEST_F(LrScheduleTest, MatchesTheAuthorsNumpyArray) {
  // Printed by the authors' utils.cosine_scheduler (numpy 1.24, repr of each
  // float) for the same arguments.
  absl::StatusOr<CosineSchedule> s = CosineSchedule::Create(SmallOptions());
  ASSERT_OK(s);
  const std::vector<double> values = s->Values();
  ASSERT_EQ(values.size(), 40u);
  EXPECT_DOUBLE_EQ(values[1], 0.00014285714285714287);
  EXPECT_DOUBLE_EQ(values[5], 0.0007142857142857144);
  EXPECT_DOUBLE_EQ(values[8], 0.001);
  EXPECT_DOUBLE_EQ(values[9], 0.0009976164397027375);
  EXPECT_DOUBLE_EQ(values[16], 0.000855017856687341);
  EXPECT_DOUBLE_EQ(values[24], 0.000505);
  EXPECT_DOUBLE_EQ(values[30], 0.00022999273465529704);
  EXPECT_DOUBLE_EQ(values[39], 1.2383560297262576e-05);
}

TEST_F(LrScheduleTest, WarmupStepsOverrideAndStartValue) {
  // cosine_scheduler(1e-3, 0, 3, 5, warmup_epochs=1, warmup_steps=4):
  // linspace(0, 1e-3, 4) = 0, 1e-3/3, 2e-3/3, 1e-3; then 11 cosine values.
  CosineScheduleOptions o;
  o.base_value = 1e-3;
  o.final_value = 0.0;
  o.epochs = 3;
  o.niter_per_ep = 5;
  o.warmup_epochs = 1;
  o.warmup_steps = 4;
  absl::StatusOr<CosineSchedule> s = CosineSchedule::Create(o);
  ASSERT_OK(s);
  EXPECT_EQ(s->warmup_iters(), 4);
  EXPECT_EQ(s->At(0), 0.0);
  ExpectClose(s->At(1), 1e-3 / 3);
  ExpectClose(s->At(2), 2e-3 / 3);
  EXPECT_EQ(s->At(3), 1e-3);
  ExpectClose(s->At(4), 1e-3);
  // Last: i = 10 of n = 11: 0.5e-3 * (1 + cos(10 pi / 11)).
  ExpectClose(s->At(14), 0.5e-3 * (1.0 + std::cos(10.0 * kPi / 11.0)));

  // start_warmup_value: linspace(1e-6, 3e-4, 14) starts at 1e-6.
  CosineScheduleOptions w;
  w.base_value = 3e-4;
  w.final_value = 1e-6;
  w.epochs = 5;
  w.niter_per_ep = 7;
  w.warmup_epochs = 2;
  w.start_warmup_value = 1e-6;
  absl::StatusOr<CosineSchedule> sw = CosineSchedule::Create(w);
  ASSERT_OK(sw);
  EXPECT_EQ(sw->At(0), 1e-6);
  ExpectClose(sw->At(1), 1e-6 + (3e-4 - 1e-6) / 13);
  EXPECT_EQ(sw->At(13), 3e-4);
}

TEST_F(LrScheduleTest, ConstantAndDecayingWeightDecay) {
  // cosine_scheduler(0.05, 0.05, ...) with no warmup: 0.05 everywhere
  // (final + 0.5 * 0 * (...) is exactly final).
  CosineScheduleOptions c;
  c.base_value = 0.05;
  c.final_value = 0.05;
  c.epochs = 10;
  c.niter_per_ep = 4;
  absl::StatusOr<CosineSchedule> constant = CosineSchedule::Create(c);
  ASSERT_OK(constant);
  for (double v : constant->Values()) {
    EXPECT_EQ(v, 0.05);
  }
  // cosine_scheduler(0.05, 0.01, 7, 3): 21 iterations, starts at 0.05 (i = 0),
  // midpoint i = 10.5 is not an iteration; i = 20: 0.01 + 0.02 * (1 + cos(20 pi / 21)).
  CosineScheduleOptions d = c;
  d.final_value = 0.01;
  d.epochs = 7;
  d.niter_per_ep = 3;
  absl::StatusOr<CosineSchedule> decaying = CosineSchedule::Create(d);
  ASSERT_OK(decaying);
  EXPECT_EQ(decaying->At(0), 0.05);
  ExpectClose(decaying->At(20), 0.01 + 0.02 * (1.0 + std::cos(20.0 * kPi / 21.0)));
}

TEST_F(LrScheduleTest, PastTheEndHoldsTheLastValue) {
  absl::StatusOr<CosineSchedule> s = CosineSchedule::Create(SmallOptions());
  ASSERT_OK(s);
  EXPECT_EQ(s->At(40), s->At(39));
  EXPECT_EQ(s->At(1000000), s->At(39));
}

TEST_F(LrScheduleTest, RejectsWhatTheAuthorsCodeRejects) {
  CosineScheduleOptions o = SmallOptions();
  o.warmup_epochs = 0;
  o.warmup_steps = 5;  // no warmup built, length assert fails
  EXPECT_THAT(CosineSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SmallOptions();
  o.warmup_epochs = 11;  // longer than the 10 epochs
  EXPECT_THAT(CosineSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SmallOptions();
  o.epochs = 0;
  EXPECT_THAT(CosineSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = SmallOptions();
  o.niter_per_ep = -1;
  EXPECT_THAT(CosineSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LrScheduleTest, LrScalesWithGlobalBatch) {
  // Pre-training recipe: 1.5e-4 x (32 per GPU x 64 GPUs = 2048) / 256
  // = 1.5e-4 x 8 = 1.2e-3; min_lr 1e-5 x 8 = 8e-5.
  absl::StatusOr<int64_t> batch = GlobalBatch(32, 64, 1);
  ASSERT_OK(batch);
  EXPECT_EQ(*batch, 2048);
  EXPECT_DOUBLE_EQ(ScaleLrByBatch(1.5e-4, *batch), 1.2e-3);
  EXPECT_DOUBLE_EQ(ScaleLrByBatch(1e-5, *batch), 8e-5);
  // Fine-tuning: 1e-3 x (8 x 2 accumulation x 8) / 256 = 1e-3 / 2.
  absl::StatusOr<int64_t> ft = GlobalBatch(8, 8, 2);
  ASSERT_OK(ft);
  EXPECT_EQ(*ft, 128);
  EXPECT_DOUBLE_EQ(ScaleLrByBatch(1e-3, *ft), 5e-4);
  // The same global batch from fewer ranks with accumulation.
  EXPECT_EQ(*GlobalBatch(32, 32, 2), 2048);
  EXPECT_EQ(*GlobalBatch(32, 16, 4), 2048);
  EXPECT_THAT(GlobalBatch(0, 4, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(GlobalBatch(4, 4, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TrainScheduleOptions PretrainOptions(int64_t global_batch) {
  TrainScheduleOptions o;
  o.lr = 1.5e-4;
  o.min_lr = 1e-5;
  o.epochs = 20;
  o.warmup_epochs = 2;
  o.weight_decay = 0.05;
  o.weight_decay_end = 0.01;
  o.global_batch = global_batch;
  o.steps_per_epoch = 10;
  return o;
}

TEST_F(LrScheduleTest, TrainScheduleIsTheAuthorsScheduleOfScaledLr) {
  absl::StatusOr<TrainSchedule> s = TrainSchedule::Create(PretrainOptions(2048));
  ASSERT_OK(s);
  EXPECT_DOUBLE_EQ(s->peak_lr(), 1.2e-3);
  EXPECT_DOUBLE_EQ(s->final_lr(), 8e-5);
  EXPECT_EQ(s->total_iterations(), 200);
  EXPECT_EQ(s->warmup_iterations(), 20);
  EXPECT_EQ(s->total_samples(), 200 * 2048);

  CosineScheduleOptions lr;
  lr.base_value = ScaleLrByBatch(1.5e-4, 2048);
  lr.final_value = ScaleLrByBatch(1e-5, 2048);
  lr.epochs = 20;
  lr.niter_per_ep = 10;
  lr.warmup_epochs = 2;
  CosineScheduleOptions wd;
  wd.base_value = 0.05;
  wd.final_value = 0.01;
  wd.epochs = 20;
  wd.niter_per_ep = 10;  // no warmup for weight decay
  absl::StatusOr<CosineSchedule> lr_ref = CosineSchedule::Create(lr);
  absl::StatusOr<CosineSchedule> wd_ref = CosineSchedule::Create(wd);
  ASSERT_OK(lr_ref);
  ASSERT_OK(wd_ref);
  for (int64_t it = 0; it < 200; ++it) {
    EXPECT_EQ(s->LrAtIteration(it), lr_ref->At(it)) << it;
    EXPECT_EQ(s->WdAtIteration(it), wd_ref->At(it)) << it;
  }
  EXPECT_EQ(s->LrAtIteration(19), s->peak_lr());  // warmup endpoint
  EXPECT_EQ(s->WdAtIteration(0), 0.05);

  // weight_decay_end unset: constant weight decay.
  TrainScheduleOptions constant = PretrainOptions(2048);
  constant.weight_decay_end.reset();
  absl::StatusOr<TrainSchedule> c = TrainSchedule::Create(constant);
  ASSERT_OK(c);
  EXPECT_EQ(c->WdAtIteration(0), 0.05);
  EXPECT_EQ(c->WdAtIteration(199), 0.05);
}

TEST_F(LrScheduleTest, LrAtSamplesFloorsBetweenIterations) {
  absl::StatusOr<TrainSchedule> s = TrainSchedule::Create(PretrainOptions(2048));
  ASSERT_OK(s);
  EXPECT_EQ(s->IterationAtSamples(0), 0);
  EXPECT_EQ(s->IterationAtSamples(2047), 0);
  EXPECT_EQ(s->IterationAtSamples(2048), 1);
  EXPECT_EQ(s->IterationAtSamples(37 * 2048 + 1000), 37);
  for (int64_t it = 0; it < 200; ++it) {
    EXPECT_EQ(s->LrAtSamples(it * 2048), s->LrAtIteration(it)) << it;
    EXPECT_EQ(s->LrAtSamples(it * 2048 + 1), s->LrAtIteration(it)) << it;
    EXPECT_EQ(s->LrAtSamples(it * 2048 + 2047), s->LrAtIteration(it)) << it;
    EXPECT_EQ(s->WdAtSamples(it * 2048 + 512), s->WdAtIteration(it)) << it;
  }
}

// The lr each optimizer step sees when a job runs `ranks` ranks of `batch`
// videos with `accum` micro-batches per step, from `samples_seen` for
// `steps` steps. The lr is read at the first micro-batch of each step (like
// the authors), from the samples consumed so far; the world size enters only
// through how many videos each micro-batch consumes.
std::vector<double> RunSteps(const TrainSchedule& s, int64_t ranks, int64_t batch, int64_t accum,
                             int64_t steps, int64_t* samples_seen) {
  std::vector<double> lrs;
  for (int64_t step = 0; step < steps; ++step) {
    for (int64_t micro = 0; micro < accum; ++micro) {
      if (micro == 0) {
        lrs.push_back(s.LrAtSamples(*samples_seen));
      }
      *samples_seen += ranks * batch;  // one micro-batch on every rank
    }
  }
  return lrs;
}

TEST_F(LrScheduleTest, LrAtSamplesIsInvariantUnderWorldSizeChange) {
  // The job starts on 64 ranks x 32 (global batch 2048). The schedule is
  // built from the global batch alone, so a restart on 16 ranks x 32 x 4
  // accumulation (also 2048) rebuilds the same schedule.
  absl::StatusOr<TrainSchedule> on64 =
      TrainSchedule::Create(PretrainOptions(*GlobalBatch(32, 64, 1)));
  absl::StatusOr<TrainSchedule> on16 =
      TrainSchedule::Create(PretrainOptions(*GlobalBatch(32, 16, 4)));
  ASSERT_OK(on64);
  ASSERT_OK(on16);

  int64_t constant_seen = 0;
  const std::vector<double> constant = RunSteps(*on64, 64, 32, 1, 200, &constant_seen);

  // 50 steps on 64 ranks (crossing the warmup), then shrink to 16 ranks
  // with 4 micro-batches, then grow to 32 ranks with 2.
  int64_t seen = 0;
  std::vector<double> changed = RunSteps(*on64, 64, 32, 1, 50, &seen);
  std::vector<double> part = RunSteps(*on16, 16, 32, 4, 100, &seen);
  changed.insert(changed.end(), part.begin(), part.end());
  part = RunSteps(*on16, 32, 32, 2, 50, &seen);
  changed.insert(changed.end(), part.begin(), part.end());

  EXPECT_EQ(seen, constant_seen);
  ASSERT_EQ(changed.size(), constant.size());
  for (size_t step = 0; step < constant.size(); ++step) {
    EXPECT_EQ(changed[step], constant[step]) << step;
    EXPECT_EQ(constant[step], on64->LrAtIteration(static_cast<int64_t>(step))) << step;
  }
  for (int64_t it = 0; it < 200; ++it) {
    EXPECT_EQ(on16->LrAtIteration(it), on64->LrAtIteration(it));
  }
}

TEST_F(LrScheduleTest, TrainScheduleRejectsMissingSizes) {
  TrainScheduleOptions o = PretrainOptions(0);
  EXPECT_THAT(TrainSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = PretrainOptions(2048);
  o.steps_per_epoch = 0;
  EXPECT_THAT(TrainSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = PretrainOptions(2048);
  o.lr = -1.0;
  EXPECT_THAT(TrainSchedule::Create(o), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmae::train
