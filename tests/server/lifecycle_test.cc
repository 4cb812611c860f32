#include "gtest/gtest.h"
#include "server/coordinator.h"

namespace vmae::server {
namespace {

using namespace vmae::v1;

// The lifecycle of design.md, written out edge by edge.
TEST(LifecycleTest, AllowsExactlyTheDesignedTransitions) {
  const std::set<std::pair<JobState, JobState>> allowed = {
      {JOB_STATE_QUEUED, JOB_STATE_RUNNING},       {JOB_STATE_QUEUED, JOB_STATE_PAUSED},
      {JOB_STATE_QUEUED, JOB_STATE_CANCELLED},     {JOB_STATE_QUEUED, JOB_STATE_FAILED},
      {JOB_STATE_RUNNING, JOB_STATE_RESTARTING},   {JOB_STATE_RUNNING, JOB_STATE_PAUSING},
      {JOB_STATE_RUNNING, JOB_STATE_CANCELLING},   {JOB_STATE_RUNNING, JOB_STATE_SUCCEEDED},
      {JOB_STATE_RUNNING, JOB_STATE_FAILED},       {JOB_STATE_RESTARTING, JOB_STATE_RUNNING},
      {JOB_STATE_RESTARTING, JOB_STATE_CANCELLING}, {JOB_STATE_RESTARTING, JOB_STATE_CANCELLED},
      {JOB_STATE_RESTARTING, JOB_STATE_FAILED},    {JOB_STATE_RESTARTING, JOB_STATE_PAUSED},
      {JOB_STATE_PAUSING, JOB_STATE_PAUSED},       {JOB_STATE_PAUSING, JOB_STATE_QUEUED},
      {JOB_STATE_PAUSING, JOB_STATE_CANCELLING},   {JOB_STATE_PAUSING, JOB_STATE_FAILED},
      {JOB_STATE_PAUSING, JOB_STATE_SUCCEEDED},    {JOB_STATE_PAUSING, JOB_STATE_RESTARTING},
      {JOB_STATE_PAUSED, JOB_STATE_QUEUED},        {JOB_STATE_PAUSED, JOB_STATE_CANCELLED},
      {JOB_STATE_CANCELLING, JOB_STATE_CANCELLED},
  };
  for (int from = JOB_STATE_QUEUED; from <= JOB_STATE_CANCELLED; ++from) {
    for (int to = JOB_STATE_QUEUED; to <= JOB_STATE_CANCELLED; ++to) {
      auto f = static_cast<JobState>(from);
      auto t = static_cast<JobState>(to);
      EXPECT_EQ(IsAllowedTransition(f, t), allowed.count({f, t}) > 0)
          << StateName(f) << " -> " << StateName(t);
    }
  }
}

TEST(LifecycleTest, StateNamesDropThePrefix) {
  EXPECT_EQ(StateName(JOB_STATE_RUNNING), "RUNNING");
  EXPECT_EQ(StateName(JOB_STATE_CANCELLING), "CANCELLING");
}

}  // namespace
}  // namespace vmae::server
