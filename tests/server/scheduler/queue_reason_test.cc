#include "server/scheduler/queue_reason.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace vmae::server::scheduler_internal {
namespace {

TEST(QueueReasonTest, DescribesDeviceAndSortedSelector) {
  JobView job;
  job.device = "cuda";
  EXPECT_EQ(DescribeRequirement(job), "device=cuda");
  job.selector = {{"zone", "a"}, {"gpu", "h100"}};
  EXPECT_EQ(DescribeRequirement(job), "device=cuda selector {gpu=h100, zone=a}");
}

TEST(QueueReasonTest, JoinIdsShortensLongLists) {
  EXPECT_EQ(JoinIds({}), "");
  EXPECT_EQ(JoinIds({"j-a", "j-b"}), "j-a, j-b");
  EXPECT_EQ(JoinIds({"a", "b", "c", "d", "e", "f", "g"}), "a, b, c, d, e and 2 more");
}

TEST(QueueReasonTest, FormatDurationRoundsUp) {
  EXPECT_EQ(FormatDuration(-5), "0s");
  EXPECT_EQ(FormatDuration(1), "1s");
  EXPECT_EQ(FormatDuration(59'000), "59s");
  EXPECT_EQ(FormatDuration(60'000), "1m");
  EXPECT_EQ(FormatDuration(61'000), "2m");
  EXPECT_EQ(FormatDuration(2 * 3'600'000 + 5 * 60'000), "2h05m");
}

TEST(QueueReasonTest, SingularAndPluralCounts) {
  EXPECT_EQ(CapacityReason(1, 1, 0),
            "needs 1 worker (at least 1) but only 0 matching slots exist in the cluster; lower "
            "resources.min_workers or add agents");
  EXPECT_EQ(WaitingReason(1, 1, 0, 1, {"j-x"}, 0),
            "waiting for 1 matching worker: 0 free of 1 matching (held by j-x); expected to "
            "start shortly");
}

TEST(QueueReasonTest, PausingReasonAgreesWithCount) {
  EXPECT_EQ(PausingReason({"j-a", "j-b"}),
            "waiting for j-a, j-b to finish pausing; the slots they will release are reserved "
            "for this job");
}

}  // namespace
}  // namespace vmae::server::scheduler_internal
