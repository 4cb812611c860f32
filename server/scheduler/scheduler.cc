#include "server/scheduler/scheduler.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/scheduler/placement.h"
#include "server/scheduler/queue_reason.h"

namespace vmae::server {

bool operator==(const SlotRef& a, const SlotRef& b) {
  return a.agent_id == b.agent_id && a.slot == b.slot;
}

bool operator<(const SlotRef& a, const SlotRef& b) {
  return std::tie(a.agent_id, a.slot) < std::tie(b.agent_id, b.slot);
}

bool operator==(const RankPlacement& a, const RankPlacement& b) {
  return a.rank == b.rank && a.agent_id == b.agent_id && a.node == b.node && a.slot == b.slot;
}

namespace {

namespace si = scheduler_internal;

// Device and labels match, whether or not the agent is schedulable.
bool DeviceAndLabelsMatch(const AgentView& agent, const JobView& job) {
  if (agent.device_kind != job.device) {
    return false;
  }
  for (const auto& [key, value] : job.selector) {
    auto it = agent.labels.find(key);
    if (it == agent.labels.end() || it->second != value) {
      return false;
    }
  }
  return true;
}

// Rule 1: priority descending, then submit_order ascending, then job_id.
bool RunsBefore(const JobView& a, const JobView& b) {
  if (a.priority != b.priority) {
    return a.priority > b.priority;
  }
  return std::tie(a.submit_order, a.job_id) < std::tie(b.submit_order, b.job_id);
}

std::vector<const JobView*> SortedQueue(const std::vector<JobView>& queued) {
  std::vector<const JobView*> order;
  order.reserve(queued.size());
  for (const JobView& job : queued) {
    order.push_back(&job);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const JobView* a, const JobView* b) { return RunsBefore(*a, *b); });
  return order;
}

// (agent index, slot).
using Slot = std::pair<size_t, int>;

// A job that holds slots: running, or started earlier in this pass.
struct Holder {
  std::string job_id;
  int priority = 0;
  int64_t submit_order = 0;
  bool preemptible = false;
  bool pausing = false;
  int64_t expected_end_ms = -1;
  std::vector<Slot> slots;
};

// A holder with no slots yet.
Holder HolderOf(const JobView& job) {
  Holder holder;
  holder.job_id = job.job_id;
  holder.priority = job.priority;
  holder.submit_order = job.submit_order;
  holder.preemptible = job.preemptible;
  holder.pausing = job.pausing;
  holder.expected_end_ms = job.expected_end_ms;
  return holder;
}

// The order in which holders are expected to release their slots: pausing
// jobs first, then by known expected end, unknown last; ties by job_id.
bool ReleasesBefore(const Holder& a, const Holder& b) {
  if (a.pausing != b.pausing) {
    return a.pausing;
  }
  const bool a_known = a.expected_end_ms >= 0;
  const bool b_known = b.expected_end_ms >= 0;
  if (a_known != b_known) {
    return a_known;
  }
  if (a_known && a.expected_end_ms != b.expected_end_ms) {
    return a.expected_end_ms < b.expected_end_ms;
  }
  return a.job_id < b.job_id;
}

// Preemption order: lowest priority first, then youngest, then job_id.
bool PreemptedBefore(const Holder* a, const Holder* b) {
  if (a->priority != b->priority) {
    return a->priority < b->priority;
  }
  if (a->submit_order != b->submit_order) {
    return a->submit_order > b->submit_order;
  }
  return a->job_id < b->job_id;
}

struct Size {
  int workers = 1;
  int min_workers = 1;
};

// Out-of-range sizes are rejected by JobSpec validation; clamp defensively.
Size SizeOf(const JobView& job) {
  Size size;
  size.workers = std::max(job.workers, 1);
  size.min_workers = std::clamp(job.min_workers, 1, size.workers);
  return size;
}

// One call of Schedule(): the free slots as this pass hands them out, the
// holders, and the head's reservation.
class Pass {
 public:
  Pass(const std::vector<JobView>& running, const std::vector<AgentView>& agents, int64_t now_ms)
      : agents_(agents), now_ms_(now_ms), free_(agents.size()), slots_seen_(agents.size(), 0) {
    for (size_t i = 0; i < agents_.size(); ++i) {
      agent_index_.emplace(agents_[i].agent_id, i);  // First wins on a duplicate id.
      free_[i].insert(agents_[i].free_slots.begin(), agents_[i].free_slots.end());
      slots_seen_[i] = std::max(agents_[i].total_slots, static_cast<int>(free_[i].size()));
    }
    for (const JobView& job : running) {
      Holder holder = HolderOf(job);
      for (const RankPlacement& rank : job.placement) {
        auto it = agent_index_.find(rank.agent_id);
        if (it == agent_index_.end()) {
          continue;  // A lost agent that is no longer reported: nothing to free.
        }
        // A slot both free and held is treated as held, so it is never given twice.
        free_[it->second].erase(rank.slot);
        holder.slots.emplace_back(it->second, rank.slot);
      }
      holders_.push_back(std::move(holder));
    }
  }

  Decision Run(const std::vector<JobView>& queued) {
    absl::flat_hash_set<std::string> seen;
    for (const JobView* job : SortedQueue(queued)) {
      if (!seen.insert(job->job_id).second) {
        continue;  // Duplicate id: the first in queue order counts.
      }
      ScheduleOne(*job);
    }
    return std::move(decision_);
  }

 private:
  void ScheduleOne(const JobView& job) {
    const Size size = SizeOf(job);
    const std::vector<bool> mask = MatchMask(job);
    if (std::none_of(mask.begin(), mask.end(), [](bool m) { return m; })) {
      decision_.queue_reasons[job.job_id] = si::NoMatchReason(job, UnschedulableMatching(job));
      return;
    }
    const int capacity = Capacity(mask);
    if (capacity < size.min_workers) {
      decision_.queue_reasons[job.job_id] =
          si::CapacityReason(size.workers, size.min_workers, capacity);
      return;
    }
    // Before a head exists the reservation is empty, so this is every free slot.
    const std::vector<Slot> outside = FreeMatching(mask, /*outside_reservation=*/true);
    if (static_cast<int>(outside.size()) >= size.min_workers) {
      Start(job, outside, std::min(size.workers, static_cast<int>(outside.size())));
      return;
    }
    if (!head_) {
      PlanHead(job, size, mask);
      return;
    }
    const std::vector<Slot> all_free = FreeMatching(mask, /*outside_reservation=*/false);
    if (static_cast<int>(all_free.size()) >= size.min_workers) {
      decision_.queue_reasons[job.job_id] =
          si::BehindReason(head_->job_id, head_->priority, size.min_workers,
                           static_cast<int>(outside.size()), static_cast<int>(all_free.size()));
    } else {
      decision_.queue_reasons[job.job_id] =
          si::WaitingReason(size.workers, size.min_workers, static_cast<int>(all_free.size()),
                            capacity, HolderIds(ReleaseOrder(mask)), std::nullopt);
    }
  }

  // The first job that cannot start: preempt for it if it outranks enough
  // running jobs, otherwise reserve the slots it will use at its earliest start.
  void PlanHead(const JobView& job, const Size& size, const std::vector<bool>& mask) {
    head_ = &job;
    const std::vector<Slot> free = FreeMatching(mask, /*outside_reservation=*/false);
    const std::vector<const Holder*> releasing = ReleaseOrder(mask);

    // Jobs already pausing release their slots first.
    std::vector<Slot> pool = free;
    std::vector<std::string> pausing;
    for (const Holder* holder : releasing) {
      if (holder->pausing) {
        AppendMatching(*holder, mask, &pool);
        pausing.push_back(holder->job_id);
      }
    }
    if (!pausing.empty() && static_cast<int>(pool.size()) >= size.min_workers) {
      Reserve(job, size, pool);
      decision_.queue_reasons[job.job_id] = si::PausingReason(pausing);
      return;
    }

    // Preemption: strictly lower priority and preemptible, lowest priority
    // first, then youngest; stop once enough, then drop any that turn out not
    // to be needed (checking the most important ones first).
    std::vector<const Holder*> candidates;
    for (const Holder* holder : releasing) {
      if (!holder->pausing && holder->preemptible && holder->priority < job.priority) {
        candidates.push_back(holder);
      }
    }
    std::sort(candidates.begin(), candidates.end(), PreemptedBefore);
    int have = static_cast<int>(pool.size());
    std::vector<std::pair<const Holder*, int>> chosen;  // (job, matching slots it frees)
    for (const Holder* holder : candidates) {
      if (have >= size.min_workers) {
        break;
      }
      const int frees = MatchingCount(*holder, mask);
      chosen.emplace_back(holder, frees);
      have += frees;
    }
    if (!chosen.empty() && have >= size.min_workers) {
      for (size_t i = chosen.size(); i-- > 0;) {
        if (have - chosen[i].second >= size.min_workers) {
          have -= chosen[i].second;
          chosen.erase(chosen.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      std::vector<std::string> waiting_for = pausing;
      for (const auto& [holder, frees] : chosen) {
        decision_.preempt.push_back(holder->job_id);
        waiting_for.push_back(holder->job_id);
        AppendMatching(*holder, mask, &pool);
      }
      Reserve(job, size, pool);
      decision_.queue_reasons[job.job_id] = si::PreemptReason(waiting_for);
      return;
    }

    // EASY reservation: free slots, then running jobs' slots in the order they
    // are expected to end, until min_workers are covered. Jobs that end at the
    // same known time as the last one needed count too.
    pool = free;
    bool eta_known = true;
    int64_t eta_end_ms = now_ms_;
    std::optional<int64_t> last_end;
    for (const Holder* holder : releasing) {
      const bool known = holder->pausing || holder->expected_end_ms >= 0;
      const int64_t end = holder->pausing ? now_ms_ : holder->expected_end_ms;
      if (static_cast<int>(pool.size()) >= size.min_workers &&
          !(known && last_end.has_value() && *last_end == end)) {
        break;
      }
      AppendMatching(*holder, mask, &pool);
      last_end = known ? std::optional<int64_t>(end) : std::nullopt;
      eta_known = eta_known && known;
      eta_end_ms = std::max(eta_end_ms, end);
    }
    Reserve(job, size, pool);
    std::optional<int64_t> eta;
    if (eta_known && static_cast<int>(pool.size()) >= size.min_workers) {
      eta = eta_end_ms - now_ms_;
    }
    decision_.queue_reasons[job.job_id] =
        si::WaitingReason(size.workers, size.min_workers, static_cast<int>(free.size()),
                          Capacity(mask), HolderIds(releasing), eta);
  }

  void Start(const JobView& job, const std::vector<Slot>& available, int ranks) {
    std::vector<RankPlacement> placement = si::PackRanks(Candidates(available), ranks);
    // Not preemptible in the pass that starts it; its end is unknown.
    Holder holder = HolderOf(job);
    holder.preemptible = false;
    holder.pausing = false;
    holder.expected_end_ms = -1;
    for (const RankPlacement& rank : placement) {
      const size_t agent = agent_index_.at(rank.agent_id);
      free_[agent].erase(rank.slot);
      holder.slots.emplace_back(agent, rank.slot);
    }
    holders_.push_back(std::move(holder));
    decision_.starts.emplace_back(job.job_id, std::move(placement));
  }

  // Reserves for the head the slots it would be placed on, out of `pool`.
  void Reserve(const JobView& job, const Size& size, const std::vector<Slot>& pool) {
    const int ranks = std::min(size.workers, static_cast<int>(pool.size()));
    decision_.reserved_for = job.job_id;
    for (const RankPlacement& rank : si::PackRanks(Candidates(pool), ranks)) {
      const size_t agent = agent_index_.at(rank.agent_id);
      reserved_.emplace(agent, rank.slot);
      decision_.reserved.push_back(SlotRef{rank.agent_id, rank.slot});
    }
    std::sort(decision_.reserved.begin(), decision_.reserved.end());
  }

  std::vector<bool> MatchMask(const JobView& job) const {
    std::vector<bool> mask(agents_.size(), false);
    for (size_t i = 0; i < agents_.size(); ++i) {
      mask[i] = agent_index_.at(agents_[i].agent_id) == i && AgentMatches(agents_[i], job);
    }
    return mask;
  }

  std::vector<std::string> UnschedulableMatching(const JobView& job) const {
    std::vector<std::string> ids;
    for (const AgentView& agent : agents_) {
      if (!agent.schedulable && DeviceAndLabelsMatch(agent, job)) {
        ids.push_back(agent.agent_id);
      }
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  // Matching slots in the cluster, free or held.
  int Capacity(const std::vector<bool>& mask) const {
    int capacity = 0;
    for (size_t i = 0; i < agents_.size(); ++i) {
      if (mask[i]) {
        capacity += slots_seen_[i];
      }
    }
    return capacity;
  }

  std::vector<Slot> FreeMatching(const std::vector<bool>& mask, bool outside_reservation) const {
    std::vector<Slot> slots;
    for (size_t i = 0; i < agents_.size(); ++i) {
      if (!mask[i]) {
        continue;
      }
      for (int slot : free_[i]) {
        if (!outside_reservation || reserved_.count(Slot{i, slot}) == 0) {
          slots.emplace_back(i, slot);
        }
      }
    }
    return slots;
  }

  // Holders of at least one matching slot, in ReleasesBefore order.
  std::vector<const Holder*> ReleaseOrder(const std::vector<bool>& mask) const {
    std::vector<const Holder*> order;
    for (const Holder& holder : holders_) {
      if (MatchingCount(holder, mask) > 0) {
        order.push_back(&holder);
      }
    }
    std::sort(order.begin(), order.end(),
              [](const Holder* a, const Holder* b) { return ReleasesBefore(*a, *b); });
    return order;
  }

  static int MatchingCount(const Holder& holder, const std::vector<bool>& mask) {
    return static_cast<int>(std::count_if(holder.slots.begin(), holder.slots.end(),
                                          [&mask](const Slot& s) { return mask[s.first]; }));
  }

  static void AppendMatching(const Holder& holder, const std::vector<bool>& mask,
                             std::vector<Slot>* pool) {
    for (const Slot& slot : holder.slots) {
      if (mask[slot.first]) {
        pool->push_back(slot);
      }
    }
  }

  static std::vector<std::string> HolderIds(const std::vector<const Holder*>& holders) {
    std::vector<std::string> ids;
    for (const Holder* holder : holders) {
      ids.push_back(holder->job_id);
    }
    return ids;
  }

  std::vector<si::CandidateSlot> Candidates(const std::vector<Slot>& slots) const {
    std::vector<si::CandidateSlot> candidates;
    candidates.reserve(slots.size());
    for (const auto& [agent, slot] : slots) {
      candidates.push_back(si::CandidateSlot{agents_[agent].agent_id, agents_[agent].node, slot});
    }
    return candidates;
  }

  const std::vector<AgentView>& agents_;
  const int64_t now_ms_;
  absl::flat_hash_map<std::string, size_t> agent_index_;
  std::vector<std::set<int>> free_;  // Per agent, ascending; shrinks as jobs start.
  std::vector<int> slots_seen_;      // Per agent: max(total_slots, free_slots.size()).
  std::vector<Holder> holders_;
  const JobView* head_ = nullptr;
  std::set<Slot> reserved_;
  Decision decision_;
};

}  // namespace

bool AgentMatches(const AgentView& agent, const JobView& job) {
  return agent.schedulable && DeviceAndLabelsMatch(agent, job);
}

std::vector<std::string> QueueOrder(const std::vector<JobView>& queued) {
  std::vector<std::string> ids;
  for (const JobView* job : SortedQueue(queued)) {
    ids.push_back(job->job_id);
  }
  return ids;
}

Decision Schedule(const std::vector<JobView>& queued, const std::vector<JobView>& running,
                  const std::vector<AgentView>& agents, int64_t now_ms) {
  return Pass(running, agents, now_ms).Run(queued);
}

}  // namespace vmae::server
