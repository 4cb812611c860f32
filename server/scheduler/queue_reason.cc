#include "server/scheduler/queue_reason.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace vmae::server::scheduler_internal {
namespace {

// "1 worker", "2 workers".
std::string Count(int64_t n, const char* noun) {
  return absl::StrFormat("%d %s%s", n, noun, n == 1 ? "" : "s");
}

}  // namespace

std::string DescribeRequirement(const JobView& job) {
  std::string out = absl::StrCat("device=", job.device);
  if (!job.selector.empty()) {
    absl::StrAppend(&out, " selector {",
                    absl::StrJoin(job.selector, ", ", absl::PairFormatter("=")), "}");
  }
  return out;
}

std::string JoinIds(const std::vector<std::string>& ids, size_t max_shown) {
  if (ids.size() <= max_shown) {
    return absl::StrJoin(ids, ", ");
  }
  std::vector<std::string> shown(ids.begin(), ids.begin() + static_cast<long>(max_shown));
  return absl::StrFormat("%s and %d more", absl::StrJoin(shown, ", "), ids.size() - max_shown);
}

std::string FormatDuration(int64_t ms) {
  const int64_t seconds = (std::max<int64_t>(ms, 0) + 999) / 1000;
  if (seconds < 60) {
    return absl::StrFormat("%ds", seconds);
  }
  const int64_t minutes = (seconds + 59) / 60;
  if (minutes < 60) {
    return absl::StrFormat("%dm", minutes);
  }
  return absl::StrFormat("%dh%02dm", minutes / 60, minutes % 60);
}

std::string NoMatchReason(const JobView& job,
                          const std::vector<std::string>& unschedulable_matching) {
  const std::string requirement = DescribeRequirement(job);
  if (!unschedulable_matching.empty()) {
    return absl::StrFormat(
        "no schedulable agent matches %s: %s %s draining or lost; wait for %s or add an agent",
        requirement, JoinIds(unschedulable_matching),
        unschedulable_matching.size() == 1 ? "is" : "are",
        unschedulable_matching.size() == 1 ? "it" : "them");
  }
  if (job.selector.empty()) {
    return absl::StrFormat("no agent offers device=%s; add a %s agent or change resources.device",
                           job.device, job.device);
  }
  return absl::StrFormat(
      "no agent matches %s; add an agent with these labels or change resources.selector",
      requirement);
}

std::string CapacityReason(int workers, int min_workers, int capacity) {
  return absl::StrFormat(
      "needs %s (at least %d) but only %s exist in the cluster; lower resources.min_workers or "
      "add agents",
      Count(workers, "worker"), min_workers, Count(capacity, "matching slot"));
}

std::string WaitingReason(int workers, int min_workers, int free, int matching_total,
                          const std::vector<std::string>& holders, std::optional<int64_t> eta_ms) {
  std::string out = workers == min_workers
                        ? absl::StrFormat("waiting for %s", Count(min_workers, "matching worker"))
                        : absl::StrFormat("waiting for at least %s (up to %d)",
                                          Count(min_workers, "matching worker"), workers);
  absl::StrAppendFormat(&out, ": %d free of %d matching", free, matching_total);
  if (!holders.empty()) {
    absl::StrAppend(&out, " (held by ", JoinIds(holders), ")");
  }
  if (eta_ms.has_value()) {
    if (*eta_ms <= 0) {
      absl::StrAppend(&out, "; expected to start shortly");
    } else {
      absl::StrAppend(&out, "; expected to start in about ", FormatDuration(*eta_ms));
    }
  }
  return out;
}

std::string BehindReason(const std::string& head_id, int head_priority, int min_workers,
                         int free_outside, int free_total) {
  return absl::StrFormat(
      "behind %s (priority %d), which holds a reservation on the slots it needs (needs %s; %d of "
      "%d free matching slots are outside the reservation)",
      head_id, head_priority, Count(min_workers, "worker"), free_outside, free_total);
}

std::string PreemptReason(const std::vector<std::string>& preempted) {
  return absl::StrFormat("waiting for %s to pause (preempted for this job)", JoinIds(preempted));
}

std::string PausingReason(const std::vector<std::string>& pausing) {
  return absl::StrFormat(
      "waiting for %s to finish pausing; the slots %s release are reserved for this job",
      JoinIds(pausing), pausing.size() == 1 ? "it will" : "they will");
}

}  // namespace vmae::server::scheduler_internal
