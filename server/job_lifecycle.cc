// The job lifecycle's allowed transitions (design.md, "Job lifecycle").
#include "server/coordinator.h"

namespace vmae::server {

using vmae::v1::JobState;

std::string StateName(JobState s) {
  std::string name = vmae::v1::JobState_Name(s);
  const std::string prefix = "JOB_STATE_";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

bool IsAllowedTransition(JobState from, JobState to) {
  using namespace vmae::v1;
  switch (from) {
    case JOB_STATE_QUEUED:
      return to == JOB_STATE_RUNNING || to == JOB_STATE_PAUSED || to == JOB_STATE_CANCELLED ||
             to == JOB_STATE_FAILED;
    case JOB_STATE_RUNNING:
      return to == JOB_STATE_RESTARTING || to == JOB_STATE_PAUSING || to == JOB_STATE_CANCELLING ||
             to == JOB_STATE_SUCCEEDED || to == JOB_STATE_FAILED;
    case JOB_STATE_RESTARTING:
      return to == JOB_STATE_RUNNING || to == JOB_STATE_CANCELLING || to == JOB_STATE_CANCELLED ||
             to == JOB_STATE_FAILED || to == JOB_STATE_PAUSED;
    case JOB_STATE_PAUSING:
      return to == JOB_STATE_PAUSED || to == JOB_STATE_QUEUED || to == JOB_STATE_CANCELLING ||
             to == JOB_STATE_FAILED || to == JOB_STATE_SUCCEEDED || to == JOB_STATE_RESTARTING;
    case JOB_STATE_PAUSED:
      return to == JOB_STATE_QUEUED || to == JOB_STATE_CANCELLED;
    case JOB_STATE_CANCELLING:
      return to == JOB_STATE_CANCELLED;
    default:
      return false;  // terminal states never change
  }
}

}  // namespace vmae::server
