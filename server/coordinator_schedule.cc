// Coordinator: turning the scheduler's decisions into attempts, and
// stopping and releasing ranks.
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "server/coordinator.h"
#include "server/coordinator_internal.h"
#include "server/scheduler/scheduler.h"

namespace vmae::server {

namespace {

bool WaitsForWorkers(vmae::v1::JobState s) {
  return s == vmae::v1::JOB_STATE_QUEUED || s == vmae::v1::JOB_STATE_RESTARTING;
}

JobView ViewOf(const vmae::v1::Job& job, int64_t order) {
  JobView v;
  v.job_id = job.id();
  const auto& res = job.spec().resources();
  v.priority = res.priority();
  v.submit_order = order;
  v.workers = res.workers();
  v.min_workers = res.min_workers();
  v.selector.insert(res.selector().begin(), res.selector().end());
  v.device = res.device();
  return v;
}

}  // namespace

void Coordinator::ScheduleLocked() {
  if (!schedule_dirty_) return;
  schedule_dirty_ = false;
  // While reconciling after a restart, slots are unknown until heartbeats
  // re-bind them: placing new work now could double-book a device.
  if (clock_->MonotonicMillis() < reconcile_until_ms_) {
    schedule_dirty_ = true;
    return;
  }
  std::vector<JobView> queued, running;
  for (const auto& [id, e] : jobs_) {
    const auto state = e->job.state();
    if (WaitsForWorkers(state)) {
      queued.push_back(ViewOf(e->job, e->submit_order));
    } else if (state == vmae::v1::JOB_STATE_RUNNING || state == vmae::v1::JOB_STATE_PAUSING) {
      JobView v = ViewOf(e->job, e->submit_order);
      v.pausing = state == vmae::v1::JOB_STATE_PAUSING;
      for (const auto& r : e->job.ranks()) {
        v.placement.push_back(RankPlacement{r.rank(), r.agent_id(), r.node(), r.slot()});
      }
      running.push_back(std::move(v));
    }
  }
  if (queued.empty()) return;
  std::vector<AgentView> agents;
  for (const auto& [id, a] : agents_) {
    AgentView v;
    v.agent_id = id;
    v.node = a->info.node();
    v.labels.insert(a->info.labels().begin(), a->info.labels().end());
    v.device_kind = a->info.devices_size() > 0 ? a->info.devices(0).kind() : "cpu";
    v.total_slots = static_cast<int>(a->slots.size());
    for (int i = 0; i < static_cast<int>(a->slots.size()); ++i) {
      if (!a->slots[i].busy()) v.free_slots.push_back(i);
    }
    // An agent without a live stream cannot receive its assignment.
    v.schedulable = !a->lost && a->session != nullptr;
    agents.push_back(std::move(v));
  }
  Decision d = Schedule(queued, running, agents, clock_->MonotonicMillis());
  for (const auto& [job_id, placement] : d.starts) {
    JobEntry* e = FindLocked(job_id);
    if (e == nullptr) continue;
    std::vector<vmae::v1::RankAssignment> ranks;
    for (const RankPlacement& p : placement) {
      vmae::v1::RankAssignment r;
      r.set_rank(p.rank);
      r.set_agent_id(p.agent_id);
      r.set_node(p.node);
      r.set_slot(p.slot);
      r.set_worker_id(absl::StrCat(p.agent_id, "/", p.slot));
      ranks.push_back(std::move(r));
    }
    StartAttemptLocked(*e, ranks);
  }
  for (const std::string& job_id : d.preempt) {
    JobEntry* e = FindLocked(job_id);
    if (e == nullptr || e->job.state() != vmae::v1::JOB_STATE_RUNNING) continue;
    std::string by = d.reserved_for.empty() ? "a higher-priority job" : d.reserved_for;
    absl::Status s = TransitionLocked(*e, vmae::v1::JOB_STATE_PAUSING,
                                      absl::StrCat("preempted by ", by, "; will requeue"));
    if (!s.ok()) {
      LogError(s.message());
      continue;
    }
    e->requeue_after_pause = true;
    e->pause_checkpointed = false;
    e->pause_deadline_ms = clock_->MonotonicMillis() + options_.pause_grace_ms;
    StopRanksLocked(*e, vmae::v1::STOP_REASON_PAUSE, static_cast<int>(options_.pause_grace_ms));
  }
  for (const auto& [job_id, reason] : d.queue_reasons) {
    JobEntry* e = FindLocked(job_id);
    if (e != nullptr) e->job.set_queue_reason(reason);
  }
}

void Coordinator::StartAttemptLocked(JobEntry& e,
                                     const std::vector<vmae::v1::RankAssignment>& ranks) {
  vmae::v1::Job before = e.job;
  int attempt = e.job.attempt() + 1;
  e.job.set_attempt(attempt);
  e.job.clear_ranks();
  for (const auto& r : ranks) *e.job.add_ranks() = r;
  e.job.set_world_size(static_cast<int>(ranks.size()));
  // Resume from the job's newest checkpoint, else from `from`.
  std::string resume = e.job.start_checkpoint();
  int64_t restored = 0;
  auto latest = store_->ListCheckpoints(e.job.id(), false);
  if (latest.ok() && !latest->empty()) {
    resume = latest->back().info.id();
    restored = latest->back().info.step();
  } else if (!resume.empty()) {
    auto rec = store_->GetCheckpoint(resume);
    if (rec.ok() && rec->has_value()) restored = (*rec)->info.step();
  }
  e.job.set_restored_step(restored);
  std::string reason = absl::StrCat("attempt ", attempt, " on ", ranks.size(), " workers");
  if (!resume.empty())
    absl::StrAppend(&reason, ", resuming from ", resume, " (step ", restored, ")");
  absl::Status s = TransitionLocked(e, vmae::v1::JOB_STATE_RUNNING, reason);
  if (!s.ok()) {
    e.job = std::move(before);
    LogError(s.message());
    return;
  }
  int64_t now = clock_->MonotonicMillis();
  e.attempt_start_ms = now;
  e.last_step_ms = 0;
  e.last_step = -1;
  e.step_ms.clear();
  e.exited_ok.clear();
  e.confirmed.clear();
  e.agents.clear();
  e.pause_deadline_ms = 0;
  e.cancel_deadline_ms = 0;
  absl::Status kv = store_->KvDropOlderAttempts(e.job.id(), attempt);
  if (!kv.ok()) LogWarning(absl::StrCat("kv cleanup: ", kv.message()));

  std::string master;
  std::map<std::string, vmae::v1::Assignment> by_agent;
  std::vector<RankInfo> rank_info;
  for (const auto& r : ranks) {
    AgentEntry& a = *agents_[r.agent_id()];
    if (r.rank() == 0) master = a.info.address();
    a.slots[r.slot()] = SlotUse{e.job.id(), attempt, r.rank()};
    e.agents.insert(r.agent_id());
    auto& as = by_agent[r.agent_id()];
    *as.add_ranks() = r;
    RankInfo info{r.rank(), a.info.pod(), a.info.node(), ""};
    if (r.slot() < a.info.devices_size()) info.gpu_uuid = a.info.devices(r.slot()).uuid();
    rank_info.push_back(info);
  }
  for (auto& [agent_id, as] : by_agent) {
    as.set_job_id(e.job.id());
    as.set_attempt(attempt);
    as.set_world_size(static_cast<int>(ranks.size()));
    *as.mutable_spec() = e.job.spec();
    as.set_resume_checkpoint(resume);
    as.set_init_checkpoint(e.job.resolved_init_checkpoint());
    as.set_rendezvous_prefix(absl::StrCat(e.job.id(), "/", attempt, "/"));
    as.set_master_address(master);
    as.set_owner(e.job.owner());
    vmae::v1::CoordinatorMessage m;
    *m.mutable_assign() = as;
    AgentEntry& a = *agents_[agent_id];
    if (a.session) a.session->Send(std::move(m));
  }
  if (metrics_) {
    metrics_->SetRanks(e.job.id(), rank_info);
    metrics_->SetCheckpointInterval(e.job.id(), e.job.spec().checkpoint().every_steps());
  }
}

void Coordinator::StopRanksLocked(JobEntry& e, vmae::v1::StopReason reason, int grace_ms) {
  for (const std::string& agent_id : e.agents) {
    auto it = agents_.find(agent_id);
    if (it == agents_.end() || !it->second->session) continue;
    vmae::v1::CoordinatorMessage m;
    auto* stop = m.mutable_stop();
    stop->set_job_id(e.job.id());
    stop->set_attempt(e.job.attempt());
    stop->set_reason(reason);
    stop->set_grace_ms(grace_ms);
    it->second->session->Send(std::move(m));
  }
}

void Coordinator::ReleaseSlotsLocked(JobEntry& e) {
  for (auto& [id, a] : agents_) {
    for (SlotUse& s : a->slots) {
      if (s.job_id == e.job.id()) s = SlotUse{};
    }
  }
  e.agents.clear();
  e.confirmed.clear();
  RequestSchedule();
}

}  // namespace vmae::server
