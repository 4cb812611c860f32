// In-memory records of the Coordinator, shared by its .cc files only.
#ifndef VMAE_SERVER_COORDINATOR_INTERNAL_H_
#define VMAE_SERVER_COORDINATOR_INTERNAL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/coordinator.h"

namespace vmae::server {

// A job plus what only lives in memory while it runs.
struct Coordinator::JobEntry {
  vmae::v1::Job job;
  int64_t submit_order = 0;   // queue age (smaller is older)
  int64_t last_seq = 0;       // last event sequence number assigned
  std::string idempotency_key;

  // Current attempt (not persisted; rebuilt from heartbeats after a restart).
  int64_t attempt_start_ms = 0;
  int64_t last_step_ms = 0;       // 0 until the attempt's first step
  int64_t last_step = -1;
  std::deque<int64_t> step_ms;    // recent step durations, for the p99 deadline
  std::set<int> exited_ok;        // ranks that exited 0 in this attempt
  std::set<int> confirmed;        // ranks a live agent reported running
  bool requeue_after_pause = false;  // preempted: PAUSED -> QUEUED
  bool pause_checkpointed = false;   // a checkpoint landed after the pause order
  int64_t pause_deadline_ms = 0;
  int64_t cancel_deadline_ms = 0;
  std::set<std::string> agents;   // agents holding ranks of this attempt
};

// One slot's user.
struct SlotUse {
  std::string job_id;
  int attempt = 0;
  int rank = -1;
  bool busy() const { return !job_id.empty(); }
};

struct Coordinator::AgentEntry {
  vmae::v1::RegisterRequest info;
  int64_t epoch = 0;
  int64_t last_seen_ms = 0;
  int64_t last_seen_wall_ms = 0;
  bool lost = false;
  std::shared_ptr<AgentSession> session;
  std::vector<SlotUse> slots;  // one per device
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_COORDINATOR_INTERNAL_H_
