// The coordinator's gang scheduler as pure logic: plain structs describing
// the queue, the running jobs and the agents go in, a Decision comes out.
// No gRPC, no protobuf, no SQLite, no clock of its own (the caller passes its
// monotonic "now"), so every rule is unit-testable with hand-worked cases.
//
// Rules (see docs/design.md, "Job lifecycle"):
//  1. Queue order: priority descending, then submit_order ascending, then job_id.
//  2. Gang: a job starts only when at least min_workers matching free slots
//     exist, and then takes min(workers, available). Matching = the agent is
//     schedulable, agent.device_kind == job.device and every selector label
//     equals the agent's label.
//  3. Packing: ranks go onto as few nodes as possible (best fit when one node
//     holds them all, otherwise the nodes with the most free matching slots
//     first, the remainder on the best-fitting node); ranks are contiguous per
//     node, slots ascending; ties by node name, then agent_id.
//  4. Head reservation and conservative backfill: the first job that cannot
//     start (and could start some day) becomes the head and reserves the slots
//     it would use at its earliest start (free matching slots plus the slots of
//     running jobs in order of expected_end_ms, unknown last). Later jobs start
//     only on free slots outside that reservation. Only the head gets one.
//  5. Preemption: if the head outranks some preemptible running jobs and
//     pausing them would free enough matching slots for min_workers, those jobs
//     (lowest priority first, then youngest; no more than needed) are listed
//     in Decision::preempt and the head starts on a later pass.
//  6. Every queued job that does not start gets a one-sentence reason.
//  7. Deterministic: the same input gives the same output.
//
// Thread-safety: Schedule() is a pure function of its arguments.
#ifndef VMAE_SERVER_SCHEDULER_SCHEDULER_H_
#define VMAE_SERVER_SCHEDULER_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vmae::server {

// One worker slot (one rank's device) on one agent.
struct SlotRef {
  std::string agent_id;
  int slot = 0;
};

bool operator==(const SlotRef& a, const SlotRef& b);
bool operator<(const SlotRef& a, const SlotRef& b);

// A registered node agent as the scheduler sees it.
struct AgentView {
  std::string agent_id;  // Unique.
  std::string node;      // Host name; ranks of one job are packed onto few nodes.
  std::map<std::string, std::string> labels;
  std::string device_kind;  // "cpu" or "cuda".
  int total_slots = 0;
  std::vector<int> free_slots;  // Slots not held by any job.
  bool schedulable = true;      // False while draining or lost.
};

// Where one rank of a job runs.
struct RankPlacement {
  int rank = 0;
  std::string agent_id;
  std::string node;
  int slot = 0;
};

bool operator==(const RankPlacement& a, const RankPlacement& b);

// A queued or running job as the scheduler sees it.
struct JobView {
  std::string job_id;
  int priority = 0;          // Higher first.
  int64_t submit_order = 0;  // Smaller = older (ties broken by job_id).
  int workers = 1;           // Wanted ranks. Values < 1 are treated as 1.
  int min_workers = 1;       // Fewest ranks it may start with; clamped to [1, workers].
  std::map<std::string, std::string> selector;  // Labels required (exact match).
  std::string device;                           // "cpu" | "cuda".

  // Running jobs only:
  std::vector<RankPlacement> placement;  // Slots it holds now.
  int64_t expected_end_ms = -1;          // Estimated end (monotonic ms), -1 unknown.
  bool preemptible = true;
  // Already asked to pause (PAUSING): its slots are about to be released, so
  // it is never listed in `preempt` again and its slots count as freeing first.
  bool pausing = false;
};

struct Decision {
  // Jobs to start now, in queue order: job_id -> ranks 0..n-1.
  std::vector<std::pair<std::string, std::vector<RankPlacement>>> starts;
  // Running jobs to checkpoint -> PAUSED -> requeue, lowest priority first.
  std::vector<std::string> preempt;
  // Queued job -> one sentence saying why it waits. Every queued job that
  // does not start has an entry.
  std::map<std::string, std::string> queue_reasons;
  // The head of the queue (the first job that could not start but could
  // run on this cluster) and the slots reserved for it, sorted by agent_id
  // then slot. Both empty when there is no head; `reserved` is also empty
  // when none of the slots the head needs are known to free up.
  std::string reserved_for;
  std::vector<SlotRef> reserved;
};

// True when `job` may run on `agent`: the agent is schedulable, its
// device_kind equals job.device and every selector label is present with the
// same value.
bool AgentMatches(const AgentView& agent, const JobView& job);

// Job ids of `queued` in scheduling order (rule 1).
std::vector<std::string> QueueOrder(const std::vector<JobView>& queued);

// One scheduling pass. `running` holds the jobs that hold slots now (RUNNING,
// RESTARTING, PAUSING); `now_ms` is the coordinator's monotonic clock, used
// only to phrase estimated waits in queue_reasons.
Decision Schedule(const std::vector<JobView>& queued, const std::vector<JobView>& running,
                  const std::vector<AgentView>& agents, int64_t now_ms);

}  // namespace vmae::server

#endif  // VMAE_SERVER_SCHEDULER_SCHEDULER_H_
