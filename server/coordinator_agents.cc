// Coordinator: agents, their sessions and leases, their reports, and the
// key-value store used for rendezvous.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "server/coordinator.h"
#include "server/coordinator_internal.h"

namespace vmae::server {

using google::protobuf::util::TimeUtil;
using vmae::v1::JobEvent;

namespace {
constexpr size_t kMaxKvValue = 64 * 1024;
constexpr int kMaxKvWaitMs = 60000;
constexpr int kStepWindow = 200;  // step durations kept for the p99 deadline
}  // namespace

// ---------------------------------------------------------------------------
// Session queue

void Coordinator::AgentSession::Send(vmae::v1::CoordinatorMessage m) {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  queue_.push_back(std::move(m));
}

bool Coordinator::AgentSession::Next(vmae::v1::CoordinatorMessage* out, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return closed_ || !queue_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (queue_.empty()) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

void Coordinator::AgentSession::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool Coordinator::AgentSession::closed() {
  absl::MutexLock lock(&mu_);
  return closed_;
}

// ---------------------------------------------------------------------------
// Registration and sessions

absl::StatusOr<vmae::v1::RegisterResponse> Coordinator::Register(
    const vmae::v1::RegisterRequest& req) {
  if (req.agent_id().empty() || !IsSafeFileName(req.agent_id())) {
    return absl::InvalidArgumentError(
        "agent_id must be 1-128 characters of letters, digits, '.', '_' or '-'");
  }
  if (req.devices_size() == 0 || req.devices_size() > 1024) {
    return absl::InvalidArgumentError("an agent must offer between 1 and 1024 devices");
  }
  for (const auto& d : req.devices()) {
    if (d.kind() != "cpu" && d.kind() != "cuda") {
      return absl::InvalidArgumentError(
          absl::StrCat("device kind '", d.kind(), "' is not cpu or cuda"));
    }
  }
  VMAE_ASSIGN_OR_RETURN(int64_t epoch, store_->NextCounter("agent_epoch"));
  WriteLock lock(this);
  auto& slot = agents_[req.agent_id()];
  if (!slot) slot = std::make_unique<AgentEntry>();
  AgentEntry& a = *slot;
  if (a.session) a.session->Close();  // a newer registration supersedes the old stream
  a.session.reset();
  a.info = req;
  if (a.info.node().empty()) a.info.set_node(req.agent_id());
  a.epoch = epoch;
  a.lost = false;
  a.last_seen_ms = clock_->MonotonicMillis();
  a.last_seen_wall_ms = clock_->WallMillis();
  // Keep the slot uses of a re-registering agent: its heartbeats confirm or
  // release them. A changed device count starts over.
  if (a.slots.size() != static_cast<size_t>(req.devices_size())) {
    a.slots.assign(req.devices_size(), SlotUse{});
  }
  LogInfo(absl::StrCat("agent ", req.agent_id(), " registered (node ", a.info.node(), ", ",
                       req.devices_size(), " ", req.devices(0).kind(), " slots, epoch ", epoch,
                       ")"));
  RequestSchedule();
  vmae::v1::RegisterResponse resp;
  resp.set_epoch(epoch);
  resp.set_heartbeat_interval_ms(static_cast<int32_t>(options_.heartbeat_ms));
  resp.set_lease_ms(static_cast<int32_t>(options_.lease_ms));
  return resp;
}

absl::StatusOr<std::shared_ptr<Coordinator::AgentSession>> Coordinator::OpenSession(
    const vmae::v1::SessionHello& hello) {
  WriteLock lock(this);
  auto it = agents_.find(hello.agent_id());
  if (it == agents_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("agent ", hello.agent_id(), " is not registered; call Register first"));
  }
  AgentEntry& a = *it->second;
  if (hello.epoch() != a.epoch) {
    return absl::AbortedError(
        absl::StrCat("stale epoch ", hello.epoch(), " (current ", a.epoch, "); register again"));
  }
  if (a.session) a.session->Close();
  a.session = std::make_shared<AgentSession>();
  a.last_seen_ms = clock_->MonotonicMillis();
  a.last_seen_wall_ms = clock_->WallMillis();
  a.lost = false;
  RequestSchedule();
  return a.session;
}

void Coordinator::CloseSession(const std::string& agent_id,
                               const std::shared_ptr<AgentSession>& s) {
  s->Close();
  WriteLock lock(this);
  auto it = agents_.find(agent_id);
  // The lease decides whether the agent is lost; a dropped stream alone is
  // not a failure (the agent reconnects).
  if (it != agents_.end() && it->second->session == s) it->second->session.reset();
}

absl::Status Coordinator::OnAgentMessage(const std::string& agent_id, int64_t epoch,
                                         const vmae::v1::AgentMessage& msg) {
  WriteLock lock(this);
  auto it = agents_.find(agent_id);
  if (it == agents_.end() || it->second->epoch != epoch) {
    return absl::AbortedError("session superseded by a newer registration; register again");
  }
  AgentEntry& a = *it->second;
  a.last_seen_ms = clock_->MonotonicMillis();
  a.last_seen_wall_ms = clock_->WallMillis();
  if (a.lost) {
    a.lost = false;
    RequestSchedule();
  }
  switch (msg.payload_case()) {
    case vmae::v1::AgentMessage::kHeartbeat:
      OnHeartbeatLocked(a, msg.heartbeat());
      break;
    case vmae::v1::AgentMessage::kStep:
      OnStepLocked(msg.step());
      break;
    case vmae::v1::AgentMessage::kLogs:
      OnLogsLocked(msg.logs());
      break;
    case vmae::v1::AgentMessage::kExit:
      OnRankExitLocked(msg.exit());
      break;
    case vmae::v1::AgentMessage::kDone:
      OnJobDoneLocked(msg.done());
      break;
    case vmae::v1::AgentMessage::kCheckpoint:
      break;  // the upload itself moves the job on (FinishUpload)
    case vmae::v1::AgentMessage::kHello:
      return absl::InvalidArgumentError("hello sent twice on one session");
    default:
      return absl::InvalidArgumentError("empty agent message");
  }
  return absl::OkStatus();
}

void Coordinator::OnHeartbeatLocked(AgentEntry& a, const vmae::v1::Heartbeat& hb) {
  std::set<std::pair<std::string, int>> reported;  // (job, rank) of the current attempt
  for (const auto& r : hb.running()) {
    JobEntry* e = FindLocked(r.job_id());
    bool current = e != nullptr && r.attempt() == e->job.attempt() &&
                   (e->job.state() == vmae::v1::JOB_STATE_RUNNING ||
                    e->job.state() == vmae::v1::JOB_STATE_PAUSING ||
                    e->job.state() == vmae::v1::JOB_STATE_CANCELLING);
    if (!current) {
      // A rank the coordinator no longer wants (old attempt, ended job):
      // the agent kills it.
      if (a.session) {
        vmae::v1::CoordinatorMessage m;
        auto* stop = m.mutable_stop();
        stop->set_job_id(r.job_id());
        stop->set_attempt(r.attempt());
        stop->set_reason(vmae::v1::STOP_REASON_ORPHAN);
        a.session->Send(std::move(m));
      }
      continue;
    }
    reported.insert({r.job_id(), r.rank()});
    e->confirmed.insert(r.rank());
    e->agents.insert(a.info.agent_id());
    // Re-bind the slot after a coordinator restart.
    for (const auto& ra : e->job.ranks()) {
      if (ra.rank() == r.rank() && ra.agent_id() == a.info.agent_id() && ra.slot() >= 0 &&
          ra.slot() < static_cast<int>(a.slots.size())) {
        a.slots[ra.slot()] = SlotUse{e->job.id(), e->job.attempt(), ra.rank()};
      }
    }
  }
  // A cancelling job whose ranks this agent no longer runs is done here.
  for (auto& [id, ep] : jobs_) {
    JobEntry& e = *ep;
    if (e.job.state() != vmae::v1::JOB_STATE_CANCELLING || e.agents.count(a.info.agent_id()) == 0) {
      continue;
    }
    bool any = false;
    for (const auto& [job, rank] : reported) any = any || job == id;
    if (!any) e.agents.erase(a.info.agent_id());
  }
}

void Coordinator::CheckAgentsLocked(int64_t now) {
  for (auto& [id, ap] : agents_) {
    AgentEntry& a = *ap;
    if (a.lost || now - a.last_seen_ms <= options_.lease_ms) continue;
    a.lost = true;
    if (a.session) a.session->Close();
    std::string why =
        absl::StrCat("agent ", id, " on node ", a.info.node(), " lost: no heartbeat for ",
                     (now - a.last_seen_ms) / 1000, " s (lease ", options_.lease_ms / 1000, " s)");
    LogWarning(why);
    std::set<std::string> affected;
    for (const SlotUse& s : a.slots) {
      if (s.busy()) affected.insert(s.job_id);
    }
    for (const std::string& job_id : affected) {
      JobEntry* e = FindLocked(job_id);
      if (e == nullptr) continue;
      e->agents.erase(id);
      if (e->job.state() == vmae::v1::JOB_STATE_RUNNING) {
        RestartLocked(*e, why);
      } else if (e->job.state() == vmae::v1::JOB_STATE_PAUSING) {
        FinishPauseLocked(*e, why);
      }
    }
    for (SlotUse& s : a.slots) s = SlotUse{};
    schedule_dirty_ = true;
  }
}

// ---------------------------------------------------------------------------
// Reports

void Coordinator::OnStepLocked(const vmae::v1::StepReport& r) {
  JobEntry* e = FindLocked(r.job_id());
  if (e == nullptr || r.attempt() != e->job.attempt() || IsTerminal(e->job.state())) return;
  int64_t now = clock_->MonotonicMillis();
  bool first_of_attempt = e->last_step < 0;
  if (!first_of_attempt && r.step() > e->last_step && e->last_step_ms > 0) {
    int64_t per_step = (now - e->last_step_ms) / std::max<int64_t>(1, r.step() - e->last_step);
    e->step_ms.push_back(per_step);
    if (e->step_ms.size() > kStepWindow) e->step_ms.pop_front();
  }
  e->last_step = r.step();
  e->last_step_ms = now;
  vmae::v1::Job& job = e->job;
  job.set_step(r.step());
  if (r.total_steps() > 0) job.set_total_steps(r.total_steps());
  job.set_samples_seen(r.samples_seen());
  job.set_loss(r.loss());
  job.set_clips_per_second(r.clips_per_second());
  for (const auto& [kind, n] : r.data_errors()) {
    (*job.mutable_data_errors())[kind] += n;
    if (metrics_) metrics_->OnDataErrors(job.id(), kind, n);
  }
  store_->BufferJob(job);

  auto add_point = [&](const std::string& name, double value) {
    vmae::v1::MetricPoint p;
    p.set_name(name);
    p.set_step(r.step());
    p.set_value(value);
    *p.mutable_time() = TimeUtil::MillisecondsToTimestamp(clock_->WallMillis());
    store_->BufferMetric(job.id(), p);
    return p;
  };
  vmae::v1::MetricPoint loss = add_point("loss", r.loss());
  add_point("lr", r.lr());
  add_point("grad_norm", r.grad_norm());
  add_point("clips_per_second", r.clips_per_second());
  add_point("data_seconds", r.data_seconds());
  add_point("compute_seconds", r.compute_seconds());
  add_point("allreduce_seconds", r.allreduce_seconds());
  for (const auto& [name, v] : r.extra()) add_point(name, v);

  if (first_of_attempt && e->job.attempt() > 1) {
    LogJobLocked(*e, absl::StrCat("attempt ", e->job.attempt(), " resumed from step ",
                                  e->job.restored_step(), "; first step now ", r.step()));
  }
  JobEvent ev = NewEventLocked(*e);
  *ev.mutable_metric() = loss;
  PublishBufferedLocked(*e, std::move(ev));
  if (metrics_) {
    metrics_->OnStep(job.id(),
                     StepFigures{r.step(), r.loss(), r.lr(), r.grad_norm(), r.clips_per_second(),
                                 r.data_seconds(), r.compute_seconds(), r.allreduce_seconds()});
  }
}

void Coordinator::OnLogsLocked(const vmae::v1::LogBatch& b) {
  JobEntry* e = FindLocked(b.job_id());
  if (e == nullptr) return;
  for (const std::string& text : b.lines()) {
    JobEvent ev = NewEventLocked(*e);
    auto* line = ev.mutable_log();
    line->set_rank(b.rank());
    line->set_attempt(b.attempt());
    line->set_text(text.size() > 8192 ? text.substr(0, 8192) : text);
    *line->mutable_time() = ev.time();
    line->set_seq(ev.seq());
    PublishBufferedLocked(*e, std::move(ev));
  }
}

void Coordinator::OnRankExitLocked(const vmae::v1::RankExit& x) {
  JobEntry* e = FindLocked(x.job_id());
  if (e == nullptr || x.attempt() != e->job.attempt()) return;
  e->confirmed.erase(x.rank());
  std::string what = x.exit_code() < 0 ? absl::StrCat("was killed by signal ", -x.exit_code())
                                       : absl::StrCat("exited with code ", x.exit_code());
  std::string reason =
      absl::StrCat("rank ", x.rank(), " ", what, x.message().empty() ? "" : ": ", x.message());
  switch (e->job.state()) {
    case vmae::v1::JOB_STATE_RUNNING:
      if (x.exit_code() == 0) {
        e->exited_ok.insert(x.rank());
        if (static_cast<int>(e->exited_ok.size()) >= e->job.world_size()) {
          ReleaseSlotsLocked(*e);
          absl::Status s =
              TransitionLocked(*e, vmae::v1::JOB_STATE_SUCCEEDED, "every rank finished");
          if (!s.ok()) LogError(s.message());
        }
      } else if (x.failure_kind() == vmae::v1::FAILURE_KIND_USER) {
        FailLocked(*e, vmae::v1::FAILURE_KIND_USER, reason);
      } else {
        RestartLocked(*e, reason);
      }
      break;
    case vmae::v1::JOB_STATE_PAUSING:
      if (x.failure_kind() == vmae::v1::FAILURE_KIND_USER) {
        FailLocked(*e, vmae::v1::FAILURE_KIND_USER, reason);
      } else if (e->pause_checkpointed) {
        FinishPauseLocked(*e, "checkpoint written; workers released");
      } else if (x.exit_code() == 0) {
        // A rank stopped on the pause order. Only every rank stopping ends
        // the pause: rank 0's exit is reported after its pause checkpoint
        // landed, but another rank's may come first, and releasing the job
        // then would kill rank 0 mid-upload and lose the checkpoint.
        e->exited_ok.insert(x.rank());
        if (static_cast<int>(e->exited_ok.size()) >= e->job.world_size()) {
          FinishPauseLocked(*e, "ranks stopped");
        }
      }
      break;
    case vmae::v1::JOB_STATE_CANCELLING:
      break;  // heartbeats without the rank finish the cancel
    default:
      break;
  }
}

void Coordinator::OnJobDoneLocked(const vmae::v1::JobDone& d) {
  JobEntry* e = FindLocked(d.job_id());
  if (e == nullptr || d.attempt() != e->job.attempt()) return;
  if (e->job.state() != vmae::v1::JOB_STATE_RUNNING &&
      e->job.state() != vmae::v1::JOB_STATE_PAUSING) {
    return;
  }
  e->job.set_step(std::max(e->job.step(), d.step()));
  ReleaseSlotsLocked(*e);
  absl::Status s = TransitionLocked(*e, vmae::v1::JOB_STATE_SUCCEEDED,
                                    absl::StrCat("training finished at step ", d.step()));
  if (!s.ok()) LogError(s.message());
}

// ---------------------------------------------------------------------------
// Key-value store

absl::Status Coordinator::KvSet(const vmae::v1::KvSetRequest& req) {
  if (req.key().empty() || req.key().size() > 256) {
    return absl::InvalidArgumentError("kv key must be 1-256 bytes");
  }
  if (req.value().size() > kMaxKvValue) {
    return absl::InvalidArgumentError("kv value is larger than 64 KiB");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(req.job_id()));
    if (req.attempt() != e->job.attempt()) {
      return absl::AbortedError(absl::StrCat(
          "attempt ", req.attempt(), " is not the job's current attempt ", e->job.attempt()));
    }
  }
  VMAE_RETURN_IF_ERROR(store_->KvSet(req.job_id(), req.attempt(), req.key(), req.value()));
  absl::MutexLock lock(&kv_mu_);
  kv_cv_.SignalAll();
  return absl::OkStatus();
}

absl::StatusOr<std::string> Coordinator::KvGet(const vmae::v1::KvGetRequest& req) {
  if (req.wait_ms() < 0 || req.wait_ms() > kMaxKvWaitMs) {
    return absl::InvalidArgumentError("wait_ms must be between 0 and 60000");
  }
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(req.job_id()));
    if (req.attempt() != e->job.attempt()) {
      return absl::AbortedError(absl::StrCat(
          "attempt ", req.attempt(), " is not the job's current attempt ", e->job.attempt()));
    }
  }
  absl::Time deadline = absl::Now() + absl::Milliseconds(req.wait_ms());
  absl::MutexLock lock(&kv_mu_);
  while (true) {
    VMAE_ASSIGN_OR_RETURN(auto value, store_->KvGet(req.job_id(), req.attempt(), req.key()));
    if (value.has_value()) return *value;
    if (absl::Now() >= deadline) {
      return absl::NotFoundError(absl::StrCat("key '", req.key(), "' not set for ", req.job_id(),
                                              " attempt ", req.attempt()));
    }
    kv_cv_.WaitWithDeadline(&kv_mu_, deadline);
  }
}

vmae::v1::ListWorkersResponse Coordinator::ListWorkers() {
  absl::ReaderMutexLock lock(&mu_);
  vmae::v1::ListWorkersResponse resp;
  for (const auto& [id, a] : agents_) {
    auto* w = resp.add_workers();
    w->set_agent_id(id);
    w->set_node(a->info.node());
    *w->mutable_labels() = a->info.labels();
    *w->mutable_devices() = a->info.devices();
    *w->mutable_last_heartbeat() = TimeUtil::MillisecondsToTimestamp(a->last_seen_wall_ms);
    std::set<std::string> jobs;
    int free = 0;
    for (const SlotUse& s : a->slots) {
      if (s.busy()) {
        jobs.insert(s.job_id);
      } else {
        ++free;
      }
    }
    for (const auto& j : jobs) w->add_job_ids(j);
    w->set_free_slots(a->lost ? 0 : free);
    w->set_state(a->lost
                     ? vmae::v1::WORKER_STATE_LOST
                     : (jobs.empty() ? vmae::v1::WORKER_STATE_IDLE : vmae::v1::WORKER_STATE_BUSY));
  }
  return resp;
}

}  // namespace vmae::server
