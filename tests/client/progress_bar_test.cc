#include "client/progress_bar.h"

#include <sstream>

#include "gtest/gtest.h"

namespace vmae::client {
namespace {

TEST(ProgressBarTest, TrainingLineShowsBarCountsPercentLossRateAndEta) {
  TrainingProgress p;
  p.step = 1200;
  p.total_steps = 5000;
  p.loss = 0.812;
  p.clips_per_second = 12.3;
  p.eta = absl::Seconds(312);
  // 14 cells * 1200 / 5000 = 3.36 -> 3 filled; 100 * 1200 / 5000 = 24%.
  EXPECT_EQ(FormatTrainingProgress(p, 14),
            "[###...........] 1200/5000 24% loss 0.812 12.3 clips/s ETA 5m12s");
}

TEST(ProgressBarTest, PercentageRoundsDown) {
  TrainingProgress p;
  p.step = 4999;
  p.total_steps = 5000;
  // 10 * 4999 / 5000 = 9.998 -> 9 cells; 99.98% -> 99%.
  EXPECT_EQ(FormatTrainingProgress(p, 10), "[#########.] 4999/5000 99%");
  p.step = 2500;
  EXPECT_EQ(FormatTrainingProgress(p, 10), "[#####.....] 2500/5000 50%");
}

TEST(ProgressBarTest, StepsBeyondTheTotalClampToFull) {
  TrainingProgress p;
  p.step = 6000;
  p.total_steps = 5000;
  EXPECT_EQ(FormatTrainingProgress(p, 4), "[####] 6000/5000 100%");
}

TEST(ProgressBarTest, UnknownTotalShowsTheStepOnly) {
  TrainingProgress p;
  p.step = 1200;
  p.loss = 0.8125;
  EXPECT_EQ(FormatTrainingProgress(p), "step 1200 loss 0.8125");
}

TEST(ProgressBarTest, TransferLineShowsBytes) {
  TransferProgress p;
  p.name = "model.safetensors";
  p.done_bytes = 12 * 1024 * 1024;
  p.total_bytes = 48 * 1024 * 1024;
  p.bytes_per_second = 4.0 * 1024 * 1024;
  p.eta = absl::Seconds(9);
  EXPECT_EQ(FormatTransferProgress(p, 8),
            "model.safetensors [##......] 12.0 MiB/48.0 MiB 25% 4.0 MiB/s ETA 9s");
}

TEST(ProgressBarTest, RateAndEtaComeFromTheStepRate) {
  RateEstimator rate;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(rate.PerSecond().has_value());
  rate.Add(t0, 100);
  EXPECT_FALSE(rate.Eta(1000).has_value());
  rate.Add(t0 + absl::Seconds(10), 200);  // 100 steps in 10 s.
  ASSERT_TRUE(rate.PerSecond().has_value());
  EXPECT_DOUBLE_EQ(*rate.PerSecond(), 10.0);
  // (1000 - 200) / 10 = 80 s.
  EXPECT_EQ(*rate.Eta(1000), absl::Seconds(80));
  EXPECT_FALSE(rate.Eta(0).has_value());
}

TEST(ProgressBarTest, RateForgetsSamplesOutsideTheWindow) {
  RateEstimator rate(absl::Seconds(60));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  rate.Add(t0, 0);  // slow start: 1 step/s
  rate.Add(t0 + absl::Seconds(100), 100);
  rate.Add(t0 + absl::Seconds(200), 1100);  // then 10 steps/s
  rate.Add(t0 + absl::Seconds(210), 1200);
  // The window starts at the newest sample that is at least 60 s old: t0 is
  // dropped, t0+100 stays, so the rate spans t0+100 .. t0+210: 1100 steps in
  // 110 s, not the 1200 / 210 of the whole history.
  EXPECT_DOUBLE_EQ(*rate.PerSecond(), 10.0);
}

TEST(ProgressBarTest, RateRestartsWhenTheCounterGoesBack) {
  RateEstimator rate;
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  rate.Add(t0, 500);
  rate.Add(t0 + absl::Seconds(5), 600);
  rate.Add(t0 + absl::Seconds(6), 400);  // restarted from an older checkpoint.
  EXPECT_FALSE(rate.PerSecond().has_value());
}

TEST(ProgressBarTest, RedrawsAtMostTenTimesASecond) {
  std::ostringstream out;
  ProgressBar bar(out);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  EXPECT_TRUE(bar.Update("aaaa", t0));
  EXPECT_FALSE(bar.Update("bbbb", t0 + absl::Milliseconds(50)));
  EXPECT_TRUE(bar.Update("cc", t0 + absl::Milliseconds(100)));
  EXPECT_TRUE(bar.Update("dd", t0 + absl::Milliseconds(110), /*force=*/true));
  bar.Finish();
  // The shorter line blanks what is left of the longer one.
  EXPECT_EQ(out.str(), "\raaaa\rcc  \rcc\rdd\n");
}

TEST(ProgressBarTest, ClearBlanksTheLineForAMessage) {
  std::ostringstream out;
  ProgressBar bar(out);
  bar.Update("abc", absl::FromUnixSeconds(1));
  bar.Clear();
  out << "event\n";
  bar.Redraw();
  bar.Finish();
  EXPECT_EQ(out.str(), "\rabc\r   \revent\n\rabc\n");
}

}  // namespace
}  // namespace vmae::client
