// The one-sentence reasons the scheduler gives for a queued job that does not
// start (rule 6 in scheduler.h). Internal to vmae::scheduler. Each names the
// facts a user needs (counts, job ids, agents) and, where the user can act,
// what to change.
#ifndef VMAE_SERVER_SCHEDULER_QUEUE_REASON_H_
#define VMAE_SERVER_SCHEDULER_QUEUE_REASON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/scheduler/scheduler.h"

namespace vmae::server::scheduler_internal {

// "device=cuda selector {gpu=h100, zone=a}" ("device=cuda" with no selector).
std::string DescribeRequirement(const JobView& job);

// "a, b, c, d, e and 2 more": at most `max_shown` ids, in the given order.
std::string JoinIds(const std::vector<std::string>& ids, size_t max_shown = 5);

// A rough duration for humans: "45s", "12m", "2h05m". Negative counts as 0.
std::string FormatDuration(int64_t ms);

// No schedulable agent matches the job. `unschedulable_matching` lists the
// agents that would match but are draining or lost.
std::string NoMatchReason(const JobView& job,
                          const std::vector<std::string>& unschedulable_matching);

// The cluster's matching slots (`capacity`) can never hold min_workers.
std::string CapacityReason(int workers, int min_workers, int capacity);

// Too few matching slots are free. `holders` are the jobs holding matching
// slots, in the order they are expected to release them; `eta_ms`, when
// known, is how long until enough are expected to be free.
std::string WaitingReason(int workers, int min_workers, int free, int matching_total,
                          const std::vector<std::string>& holders, std::optional<int64_t> eta_ms);

// Enough matching slots are free, but not outside the head's reservation.
std::string BehindReason(const std::string& head_id, int head_priority, int min_workers,
                         int free_outside, int free_total);

// The head waits for jobs that this pass asked to pause.
std::string PreemptReason(const std::vector<std::string>& preempted);

// The head waits for jobs that were already pausing.
std::string PausingReason(const std::vector<std::string>& pausing);

}  // namespace vmae::server::scheduler_internal

#endif  // VMAE_SERVER_SCHEDULER_QUEUE_REASON_H_
