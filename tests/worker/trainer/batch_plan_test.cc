#include "worker/trainer/batch_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace vmae::trainer {
namespace {

using vmae::testing::StatusIs;

TEST(PlanBatchesTest, FullSizeNeedsNoAccumulation) {
  // 4 videos x 2 workers = 8 per step; 100 videos -> 12 full steps.
  absl::StatusOr<BatchPlan> p = PlanBatches(4, 2, 2, 100);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->global_batch, 8);
  EXPECT_EQ(p->rank_batch, 4);
  EXPECT_EQ(p->accum_steps, 1);
  EXPECT_EQ(p->micro_batch, 4);
  EXPECT_EQ(p->steps_per_epoch, 12);
}

TEST(PlanBatchesTest, FewerRanksAccumulateToTheSameGlobalBatch) {
  absl::StatusOr<BatchPlan> one = PlanBatches(4, 2, 1, 100);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->global_batch, 8);
  EXPECT_EQ(one->accum_steps, 2);
  EXPECT_EQ(one->micro_batch, 4);
  // 3 x 4 = 12 on one rank: micro-batches of at most 3 -> 4 of 3.
  absl::StatusOr<BatchPlan> odd = PlanBatches(3, 4, 1, 100);
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->accum_steps, 4);
  EXPECT_EQ(odd->micro_batch, 3);
  // 4 x 3 = 12 over 2 ranks: 6 each, as 2 micro-batches of 3.
  absl::StatusOr<BatchPlan> two = PlanBatches(4, 3, 2, 100);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->rank_batch, 6);
  EXPECT_EQ(two->accum_steps, 2);
  EXPECT_EQ(two->micro_batch, 3);
  EXPECT_EQ(two->global_batch, two->rank_batch * 2);
}

TEST(PlanBatchesTest, RejectsWhatCannotKeepTheGlobalBatch) {
  EXPECT_THAT(PlanBatches(4, 4, 3, 100),
              StatusIs(absl::StatusCode::kInvalidArgument, "min_workers"));
  EXPECT_THAT(PlanBatches(4, 2, 2, 7),
              StatusIs(absl::StatusCode::kInvalidArgument, "fewer than one global"));
  EXPECT_THAT(PlanBatches(0, 2, 2, 7), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmae::trainer
