// Coordinator core: start-up, the background loop, state transitions and
// the JobService operations. Agents are in coordinator_agents.cc,
// checkpoints in coordinator_checkpoints.cc, scheduling glue in
// coordinator_schedule.cc.
#include "server/coordinator.h"

#include <algorithm>
#include <filesystem>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/jobspec/jobspec.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "server/coordinator_internal.h"

namespace vmae::server {

using google::protobuf::util::TimeUtil;
using vmae::v1::FailureKind;
using vmae::v1::Job;
using vmae::v1::JobEvent;
using vmae::v1::JobState;

namespace {

constexpr int kMaxIdempotencyKey = 128;

google::protobuf::Timestamp WallTimestamp(Clock* clock) {
  return TimeUtil::MillisecondsToTimestamp(clock->WallMillis());
}

std::string NewJobId() {
  static absl::Mutex mu(absl::kConstInit);
  static absl::BitGen* gen = new absl::BitGen();
  absl::MutexLock lock(&mu);
  uint64_t v = absl::Uniform<uint64_t>(*gen) & 0xffffffffffffULL;
  return absl::StrFormat("j-%012x", v);
}

bool IsActive(JobState s) {
  return s == vmae::v1::JOB_STATE_RUNNING || s == vmae::v1::JOB_STATE_PAUSING ||
         s == vmae::v1::JOB_STATE_CANCELLING;
}

}  // namespace

// ---------------------------------------------------------------------------
// Start-up and the loop

Coordinator::Coordinator(CoordinatorOptions options, std::unique_ptr<JobStore> store,
                         CoordinatorMetrics* metrics)
    : options_(std::move(options)),
      clock_(options_.clock),
      store_(std::move(store)),
      files_(options_.state_dir),
      metrics_(metrics) {
  hub_ = std::make_unique<WatchHub>(
      [this](const std::string& job_id, int64_t after_seq, int limit, bool logs) {
        return store_->ReadEvents(job_id, after_seq, limit, logs);
      });
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(CoordinatorOptions options,
                                                                 CoordinatorMetrics* metrics) {
  if (options.state_dir.empty()) {
    return absl::InvalidArgumentError("--state-dir is required");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create --state-dir ", options.state_dir, ": ", ec.message()));
  }
  VMAE_ASSIGN_OR_RETURN(auto store, JobStore::Open(options.state_dir + "/vmae.db"));
  std::unique_ptr<Coordinator> c(new Coordinator(std::move(options), std::move(store), metrics));
  VMAE_RETURN_IF_ERROR(c->files_.Init());
  VMAE_RETURN_IF_ERROR(c->Load());
  if (c->options_.background) c->loop_ = std::thread([p = c.get()] { p->Loop(); });
  return c;
}

Coordinator::~Coordinator() { Shutdown(); }

absl::Status Coordinator::Load() {
  VMAE_ASSIGN_OR_RETURN(std::vector<Job> jobs, store_->LoadJobs());
  WriteLock lock(this);
  int active = 0;
  for (Job& job : jobs) {
    auto e = std::make_unique<JobEntry>();
    VMAE_ASSIGN_OR_RETURN(e->last_seq, store_->LastEventSeq(job.id()));
    e->submit_order = ++submit_counter_;
    e->job = std::move(job);
    if (IsActive(e->job.state())) ++active;
    jobs_[e->job.id()] = std::move(e);
  }
  // Reconciliation: jobs that were running get one lease for their agents
  // to come back and report their ranks (scheduling waits too, since slot
  // use is unknown until then); CheckJobsLocked decides after that.
  if (active > 0) reconcile_until_ms_ = clock_->MonotonicMillis() + options_.lease_ms;
  LogInfo(absl::StrCat("loaded ", jobs_.size(), " jobs", active > 0 ? absl::StrCat(" (", active,
                       " active, waiting one lease for their agents)") : std::string()));
  for (auto& [id, e] : jobs_) {
    if (!IsTerminal(e->job.state())) {
      absl::Status s = GarbageCollect(id, e->job.spec().checkpoint().keep_last());
      if (!s.ok()) LogWarning(absl::StrCat("checkpoint GC of ", id, ": ", s.message()));
    }
  }
  UpdateGaugesLocked();
  return absl::OkStatus();
}

void Coordinator::Loop() {
  int64_t next_tick = 0;
  int64_t next_flush = 0;
  while (!stop_.HasBeenNotified()) {
    bool woken = false;
    {
      absl::MutexLock lock(&wake_mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(wake_mu_) { return wake_; };
      wake_mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(options_.flush_ms));
      woken = wake_;
      wake_ = false;
    }
    int64_t now = clock_->MonotonicMillis();
    if (now >= next_flush) {
      absl::Status s = store_->Flush().status();
      if (!s.ok()) LogError(absl::StrCat("group commit failed (will retry): ", s.message()));
      next_flush = now + options_.flush_ms;
    }
    if (now >= next_tick) {
      Tick();
      next_tick = now + std::min<int64_t>(500, options_.heartbeat_ms);
    } else if (woken) {
      WriteLock lock(this);
      ScheduleLocked();
    }
  }
}

void Coordinator::Tick() {
  WriteLock lock(this);
  int64_t now = clock_->MonotonicMillis();
  CheckAgentsLocked(now);
  CheckJobsLocked(now);
  ScheduleLocked();
  UpdateGaugesLocked();
}

absl::Status Coordinator::Flush() { return store_->Flush().status(); }

void Coordinator::Shutdown() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  {
    absl::MutexLock lock(&wake_mu_);
    wake_ = true;  // wake the loop so it sees stop_
  }
  if (loop_.joinable()) loop_.join();
  hub_->CloseAll();
  {
    WriteLock lock(this);
    for (auto& [id, a] : agents_) {
      if (a->session) a->session->Close();
    }
  }
  absl::Status s = store_->Flush().status();
  if (!s.ok()) LogError(absl::StrCat("final flush failed: ", s.message()));
}

// ---------------------------------------------------------------------------
// Events and transitions

Coordinator::JobEntry* Coordinator::FindLocked(const std::string& id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.get();
}

absl::StatusOr<Coordinator::JobEntry*> Coordinator::FindOrNotFound(const std::string& id) {
  JobEntry* e = FindLocked(id);
  if (e == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("job ", id.empty() ? "(empty id)" : id, " not found; list jobs with 'vmaectl list'"));
  }
  return e;
}

JobEvent Coordinator::NewEventLocked(JobEntry& e) {
  JobEvent ev;
  ev.set_seq(++e.last_seq);
  ev.set_job_id(e.job.id());
  *ev.mutable_time() = WallTimestamp(clock_);
  return ev;
}

void Coordinator::PublishBufferedLocked(JobEntry& e, JobEvent ev) {
  store_->BufferEvent(ev);
  PublishLocked(std::move(ev));
}

void Coordinator::PublishLocked(JobEvent ev) {
  absl::MutexLock lock(&outbox_mu_);
  outbox_.push_back(std::move(ev));
}

void Coordinator::DrainOutbox() {
  absl::MutexLock drain(&drain_mu_);
  while (true) {
    std::deque<JobEvent> batch;
    {
      absl::MutexLock lock(&outbox_mu_);
      batch.swap(outbox_);
    }
    if (batch.empty()) return;
    for (const JobEvent& ev : batch) hub_->Publish(ev);
  }
}

void Coordinator::RequestSchedule() {
  schedule_dirty_ = true;
  absl::MutexLock lock(&wake_mu_);
  wake_ = true;
}

void Coordinator::LogJobLocked(JobEntry& e, const std::string& text) {
  LogJob(LogLevel::kInfo, e.job.id(), text);
  JobEvent ev = NewEventLocked(e);
  auto* line = ev.mutable_log();
  line->set_rank(-1);
  line->set_attempt(e.job.attempt());
  line->set_text(text);
  *line->mutable_time() = ev.time();
  line->set_seq(ev.seq());
  PublishBufferedLocked(e, std::move(ev));
}

absl::Status Coordinator::TransitionLocked(JobEntry& e, JobState to, const std::string& reason,
                                           FailureKind kind) {
  JobState from = e.job.state();
  if (!IsAllowedTransition(from, to)) {
    return absl::FailedPreconditionError(absl::StrCat("job ", e.job.id(), " is ", StateName(from),
                                                      " and cannot become ", StateName(to)));
  }
  Job before = e.job;
  e.job.set_state(to);
  e.job.set_state_reason(reason);
  if (to == vmae::v1::JOB_STATE_FAILED) e.job.set_failure_kind(kind);
  if (to == vmae::v1::JOB_STATE_RUNNING && !e.job.has_start_time()) {
    *e.job.mutable_start_time() = WallTimestamp(clock_);
  }
  if (IsTerminal(to)) *e.job.mutable_end_time() = WallTimestamp(clock_);
  if (to != vmae::v1::JOB_STATE_QUEUED) e.job.clear_queue_reason();
  JobEvent ev = NewEventLocked(e);
  auto* sc = ev.mutable_state();
  sc->set_from(from);
  sc->set_to(to);
  sc->set_reason(reason);
  sc->set_attempt(e.job.attempt());
  // Committed before anyone hears of it: the caller acknowledges only after.
  absl::Status s = store_->CommitJob(e.job, {ev});
  if (!s.ok()) {
    e.job = std::move(before);
    --e.last_seq;
    return absl::UnavailableError(
        absl::StrCat("cannot record the state change of ", e.job.id(), ": ", s.message()));
  }
  LogLine(LogLevel::kInfo, LogContext{e.job.id(), -1, e.job.attempt()},
          absl::StrCat(StateName(from), " -> ", StateName(to), ": ", reason));
  PublishLocked(ev);
  if (IsTerminal(to)) OnTerminalLocked(e);
  RequestSchedule();
  return absl::OkStatus();
}

void Coordinator::OnTerminalLocked(JobEntry& e) {
  ReleaseSlotsLocked(e);
  absl::Status s = store_->UnpinAllBy(e.job.id());
  if (!s.ok()) LogWarning(absl::StrCat("unpin for ", e.job.id(), ": ", s.message()));
  if (metrics_) metrics_->RemoveJob(e.job.id());
}

void Coordinator::FailLocked(JobEntry& e, FailureKind kind, const std::string& reason) {
  StopRanksLocked(e, vmae::v1::STOP_REASON_CANCEL, 0);
  absl::Status s = TransitionLocked(e, vmae::v1::JOB_STATE_FAILED, reason, kind);
  if (!s.ok()) LogError(s.message());
}

void Coordinator::RestartLocked(JobEntry& e, const std::string& reason) {
  if (e.job.state() != vmae::v1::JOB_STATE_RUNNING && e.job.state() != vmae::v1::JOB_STATE_PAUSING) {
    return;
  }
  int max_restarts = e.job.spec().resources().max_restarts();
  if (e.job.restarts() >= max_restarts) {
    FailLocked(e, vmae::v1::FAILURE_KIND_INFRASTRUCTURE,
               absl::StrCat("gave up after ", e.job.restarts(), " restarts (max_restarts ",
                            max_restarts, "): ", reason));
    return;
  }
  StopRanksLocked(e, vmae::v1::STOP_REASON_RESTART, 0);
  ReleaseSlotsLocked(e);
  e.job.set_restarts(e.job.restarts() + 1);
  if (metrics_) metrics_->OnRestart(e.job.id());
  absl::Status s = TransitionLocked(e, vmae::v1::JOB_STATE_RESTARTING,
                                    absl::StrCat("restart ", e.job.restarts(), " of ", max_restarts,
                                                 ": ", reason));
  if (!s.ok()) LogError(s.message());
}

void Coordinator::FinishPauseLocked(JobEntry& e, const std::string& reason) {
  StopRanksLocked(e, vmae::v1::STOP_REASON_CANCEL, 0);
  ReleaseSlotsLocked(e);
  JobState to = e.requeue_after_pause ? vmae::v1::JOB_STATE_QUEUED : vmae::v1::JOB_STATE_PAUSED;
  e.requeue_after_pause = false;
  absl::Status s = TransitionLocked(e, to, reason);
  if (!s.ok()) LogError(s.message());
}

// ---------------------------------------------------------------------------
// Deadlines

void Coordinator::CheckJobsLocked(int64_t now) {
  bool reconciling = now < reconcile_until_ms_;
  for (auto& [id, ep] : jobs_) {
    JobEntry& e = *ep;
    switch (e.job.state()) {
      case vmae::v1::JOB_STATE_RUNNING: {
        if (e.attempt_start_ms == 0) {
          // Loaded as RUNNING at start-up: its ranks must come back first.
          if (reconciling) break;
          int world = e.job.world_size();
          if (static_cast<int>(e.confirmed.size()) >= world && world > 0) {
            e.attempt_start_ms = now;
            e.last_step_ms = now;
            break;
          }
          RestartLocked(e, absl::StrCat("after a coordinator restart only ", e.confirmed.size(),
                                        " of ", world, " ranks came back within the lease"));
          break;
        }
        int64_t deadline;
        int64_t since;
        if (e.last_step_ms == 0) {
          deadline = options_.first_step_deadline_ms;
          since = e.attempt_start_ms;
        } else {
          int64_t p99 = 0;
          if (!e.step_ms.empty()) {
            std::vector<int64_t> v(e.step_ms.begin(), e.step_ms.end());
            size_t k = std::min(v.size() - 1, static_cast<size_t>(v.size() * 0.99));
            std::nth_element(v.begin(), v.begin() + k, v.end());
            p99 = v[k];
          }
          deadline = std::max(10 * p99, options_.progress_deadline_ms);
          since = e.last_step_ms;
        }
        e.job.set_progress_deadline_ms(deadline);
        if (now - since > deadline) {
          RestartLocked(e, absl::StrCat("no training progress for ", (now - since) / 1000,
                                        " s (deadline ", deadline / 1000, " s)"));
        }
        break;
      }
      case vmae::v1::JOB_STATE_PAUSING:
        if (e.pause_deadline_ms == 0) e.pause_deadline_ms = now + options_.pause_grace_ms;
        if (now > e.pause_deadline_ms) {
          FinishPauseLocked(e, "pause grace expired before a checkpoint landed; ranks killed, "
                               "the job resumes from its previous checkpoint");
        }
        break;
      case vmae::v1::JOB_STATE_CANCELLING:
        if (e.cancel_deadline_ms == 0) e.cancel_deadline_ms = now + options_.cancel_grace_ms;
        if (now > e.cancel_deadline_ms || (!reconciling && e.agents.empty())) {
          ReleaseSlotsLocked(e);
          absl::Status s = TransitionLocked(e, vmae::v1::JOB_STATE_CANCELLED, "ranks stopped");
          if (!s.ok()) LogError(s.message());
        }
        break;
      default:
        break;
    }
  }
}

// ---------------------------------------------------------------------------
// JobService

absl::StatusOr<Job> Coordinator::SubmitJob(const Principal& who,
                                           const vmae::v1::SubmitJobRequest& req) {
  if (req.idempotency_key().size() > kMaxIdempotencyKey) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency_key is longer than ", kMaxIdempotencyKey, " characters"));
  }
  vmae::v1::JobSpec spec;
  bool has_yaml = !req.spec_yaml().empty();
  if (has_yaml == req.has_spec()) {
    return absl::InvalidArgumentError("give exactly one of spec_yaml or spec");
  }
  if (has_yaml) {
    std::vector<std::string> overrides(req.overrides().begin(), req.overrides().end());
    VMAE_ASSIGN_OR_RETURN(spec, jobspec::ParseJobSpecYaml(req.spec_yaml(), overrides, "spec_yaml"));
  } else {
    if (req.overrides_size() > 0) {
      return absl::InvalidArgumentError("overrides apply to spec_yaml only; edit the spec message");
    }
    VMAE_RETURN_IF_ERROR(jobspec::ValidateJobSpec(req.spec()));
    spec = req.spec();
  }
  VMAE_RETURN_IF_ERROR(jobspec::ValidateDataPaths(spec, options_.data_roots, false));

  WriteLock lock(this);
  std::string idem;
  if (!req.idempotency_key().empty()) {
    idem = who.user + std::string(1, '\0') + req.idempotency_key();
    auto it = idempotency_.find(idem);
    if (it != idempotency_.end()) {
      JobEntry* e = FindLocked(it->second);
      if (e != nullptr) return e->job;
    }
  }
  Job job;
  do {
    job.set_id(NewJobId());
  } while (jobs_.count(job.id()) > 0);
  job.set_name(spec.name());
  job.set_owner(who.user);
  *job.mutable_spec() = spec;
  job.set_state(vmae::v1::JOB_STATE_QUEUED);
  job.set_state_reason("submitted");
  *job.mutable_create_time() = WallTimestamp(clock_);

  // job:// references resolve now, so a later checkpoint of the source job
  // cannot change what this job starts from, and GC keeps it (pinned).
  std::string pin;
  if (spec.kind() == vmae::v1::JOB_KIND_FINETUNE) {
    bool is_ref = false;
    VMAE_ASSIGN_OR_RETURN(std::string ckpt,
                          ResolveJobRefLocked(spec.finetune().init_from(), &is_ref));
    if (is_ref) {
      job.set_resolved_init_checkpoint(ckpt);
      pin = ckpt;
    }
  }
  if (!req.from().empty()) {
    bool is_ref = false;
    VMAE_ASSIGN_OR_RETURN(std::string ckpt, ResolveJobRefLocked(req.from(), &is_ref));
    if (!is_ref) {
      return absl::InvalidArgumentError(
          absl::StrCat("from: '", req.from(), "' is not job://<id> or job://<id>/<checkpoint>"));
    }
    job.set_start_checkpoint(ckpt);
  }

  auto e = std::make_unique<JobEntry>();
  e->job = job;
  e->idempotency_key = req.idempotency_key();
  JobEvent ev = NewEventLocked(*e);
  ev.mutable_state()->set_from(vmae::v1::JOB_STATE_UNSPECIFIED);
  ev.mutable_state()->set_to(vmae::v1::JOB_STATE_QUEUED);
  ev.mutable_state()->set_reason(absl::StrCat("submitted by ", who.user));
  std::string existing;
  absl::Status s = store_->InsertJob(job, req.idempotency_key(), ev, &existing);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot store the job: ", s.message(),
                                               "; retry with the same idempotency key"));
  }
  if (!existing.empty()) {
    JobEntry* old = FindLocked(existing);
    if (old != nullptr) return old->job;
    return absl::InternalError("idempotency key matched a job the coordinator does not know");
  }
  for (const std::string& ckpt : {pin, job.start_checkpoint()}) {
    if (ckpt.empty()) continue;
    absl::Status ps = store_->Pin(ckpt, job.id());
    if (!ps.ok()) LogWarning(absl::StrCat("pin ", ckpt, ": ", ps.message()));
  }
  e->submit_order = ++submit_counter_;
  if (!idem.empty()) idempotency_[idem] = job.id();
  LogJob(LogLevel::kInfo, job.id(),
         absl::StrCat("submitted by ", who.user, ": ", job.name(), " (",
                      vmae::v1::JobKind_Name(spec.kind()), ", ", spec.resources().workers(),
                      " workers)"));
  PublishLocked(ev);
  jobs_[job.id()] = std::move(e);
  RequestSchedule();
  return jobs_[job.id()]->job;
}

absl::StatusOr<vmae::v1::GetJobResponse> Coordinator::GetJob(
    const Principal& who, const vmae::v1::GetJobRequest& req) {
  vmae::v1::GetJobResponse resp;
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(req.job_id()));
    *resp.mutable_job() = e->job;
  }
  if (req.include_history()) {
    int64_t after = 0;
    while (true) {
      VMAE_ASSIGN_OR_RETURN(auto events, store_->ReadEvents(req.job_id(), after, 4096, false));
      for (auto& ev : events) {
        if (ev.has_state()) *resp.add_history() = ev;
      }
      if (events.size() < 4096) break;
      after = events.back().seq();
    }
  }
  return resp;
}

absl::StatusOr<Job> Coordinator::Snapshot(const std::string& job_id) {
  absl::ReaderMutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(job_id));
  return e->job;
}

bool Coordinator::IsJobTerminal(const std::string& job_id) {
  absl::ReaderMutexLock lock(&mu_);
  JobEntry* e = FindLocked(job_id);
  return e == nullptr || IsTerminal(e->job.state());
}

absl::StatusOr<vmae::v1::ListJobsResponse> Coordinator::ListJobs(
    const Principal& who, const vmae::v1::ListJobsRequest& req) {
  int page_size = req.page_size() == 0 ? 100 : req.page_size();
  if (page_size < 0 || page_size > 1000) {
    return absl::InvalidArgumentError("page_size must be between 1 and 1000");
  }
  int64_t offset = 0;
  if (!req.page_token().empty() && (!absl::SimpleAtoi(req.page_token(), &offset) || offset < 0)) {
    return absl::InvalidArgumentError("bad page_token; pass the next_page_token of the previous page");
  }
  std::set<int> states(req.states().begin(), req.states().end());
  absl::ReaderMutexLock lock(&mu_);
  std::vector<const JobEntry*> matched;
  for (const auto& [id, e] : jobs_) {
    if (!states.empty() && states.count(e->job.state()) == 0) continue;
    if (!req.owner().empty() && e->job.owner() != req.owner()) continue;
    if (!req.name_contains().empty() && !absl::StrContains(e->job.name(), req.name_contains())) {
      continue;
    }
    matched.push_back(e.get());
  }
  // Newest first.
  std::sort(matched.begin(), matched.end(), [](const JobEntry* a, const JobEntry* b) {
    return a->submit_order > b->submit_order;
  });
  vmae::v1::ListJobsResponse resp;
  for (int64_t i = offset; i < static_cast<int64_t>(matched.size()) && resp.jobs_size() < page_size;
       ++i) {
    *resp.add_jobs() = matched[i]->job;
  }
  if (offset + page_size < static_cast<int64_t>(matched.size())) {
    resp.set_next_page_token(absl::StrCat(offset + page_size));
  }
  return resp;
}

absl::StatusOr<Job> Coordinator::CancelJob(const Principal& who, const vmae::v1::JobRef& ref) {
  WriteLock lock(this);
  VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(ref.job_id()));
  VMAE_RETURN_IF_ERROR(CheckOwner(who, e->job.owner(), e->job.id()));
  std::string reason = ref.reason().empty() ? absl::StrCat("cancelled by ", who.user)
                                            : absl::StrCat("cancelled by ", who.user, ": ", ref.reason());
  switch (e->job.state()) {
    case vmae::v1::JOB_STATE_QUEUED:
    case vmae::v1::JOB_STATE_PAUSED:
    case vmae::v1::JOB_STATE_RESTARTING:
      VMAE_RETURN_IF_ERROR(TransitionLocked(*e, vmae::v1::JOB_STATE_CANCELLED, reason));
      break;
    case vmae::v1::JOB_STATE_RUNNING:
    case vmae::v1::JOB_STATE_PAUSING:
      VMAE_RETURN_IF_ERROR(TransitionLocked(*e, vmae::v1::JOB_STATE_CANCELLING, reason));
      e->cancel_deadline_ms = clock_->MonotonicMillis() + options_.cancel_grace_ms;
      StopRanksLocked(*e, vmae::v1::STOP_REASON_CANCEL, 0);
      break;
    default:
      break;  // already cancelling or ended: idempotent
  }
  return e->job;
}

absl::StatusOr<Job> Coordinator::PauseJob(const Principal& who, const vmae::v1::JobRef& ref) {
  WriteLock lock(this);
  VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(ref.job_id()));
  VMAE_RETURN_IF_ERROR(CheckOwner(who, e->job.owner(), e->job.id()));
  std::string reason = absl::StrCat("paused by ", who.user);
  switch (e->job.state()) {
    case vmae::v1::JOB_STATE_QUEUED:
    case vmae::v1::JOB_STATE_RESTARTING:
      VMAE_RETURN_IF_ERROR(TransitionLocked(*e, vmae::v1::JOB_STATE_PAUSED, reason));
      break;
    case vmae::v1::JOB_STATE_RUNNING:
      VMAE_RETURN_IF_ERROR(TransitionLocked(*e, vmae::v1::JOB_STATE_PAUSING, reason));
      e->requeue_after_pause = false;
      e->pause_checkpointed = false;
      e->pause_deadline_ms = clock_->MonotonicMillis() + options_.pause_grace_ms;
      StopRanksLocked(*e, vmae::v1::STOP_REASON_PAUSE, static_cast<int>(options_.pause_grace_ms));
      break;
    case vmae::v1::JOB_STATE_PAUSING:
    case vmae::v1::JOB_STATE_PAUSED:
      e->requeue_after_pause = false;
      break;
    default:
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", e->job.id(), " is ", StateName(e->job.state()), " and cannot be paused"));
  }
  return e->job;
}

absl::StatusOr<Job> Coordinator::ResumeJob(const Principal& who, const vmae::v1::JobRef& ref) {
  WriteLock lock(this);
  VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(ref.job_id()));
  VMAE_RETURN_IF_ERROR(CheckOwner(who, e->job.owner(), e->job.id()));
  if (e->job.state() != vmae::v1::JOB_STATE_PAUSED) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", e->job.id(), " is ", StateName(e->job.state()), "; only a PAUSED job can be resumed"));
  }
  VMAE_RETURN_IF_ERROR(
      TransitionLocked(*e, vmae::v1::JOB_STATE_QUEUED, absl::StrCat("resumed by ", who.user)));
  RequestSchedule();
  return e->job;
}

absl::StatusOr<vmae::v1::GetMetricsResponse> Coordinator::GetMetrics(
    const Principal& who, const vmae::v1::GetMetricsRequest& req) {
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_RETURN_IF_ERROR(FindOrNotFound(req.job_id()).status());
  }
  if (req.name().empty()) return absl::InvalidArgumentError("metric name is empty (e.g. loss, lr)");
  if (req.max_points() < 0) return absl::InvalidArgumentError("max_points must be >= 0");
  VMAE_ASSIGN_OR_RETURN(auto points,
                        store_->ReadMetrics(req.job_id(), req.name(), req.start_step(),
                                            req.end_step(),
                                            req.max_points() == 0 ? 10000 : req.max_points()));
  vmae::v1::GetMetricsResponse resp;
  for (auto& p : points) *resp.add_points() = std::move(p);
  return resp;
}

absl::StatusOr<std::vector<vmae::v1::LogLine>> Coordinator::ReadLogs(
    const vmae::v1::StreamLogsRequest& req, int64_t after_seq, int limit) {
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_RETURN_IF_ERROR(FindOrNotFound(req.job_id()).status());
  }
  return store_->ReadLogs(req.job_id(), req.rank(), req.attempt(), after_seq, limit);
}

void Coordinator::UpdateGaugesLocked() {
  if (metrics_ == nullptr) return;
  std::map<std::string, int> jobs;
  for (int s = vmae::v1::JOB_STATE_QUEUED; s <= vmae::v1::JOB_STATE_CANCELLED; ++s) {
    jobs[StateName(static_cast<JobState>(s))] = 0;
  }
  for (const auto& [id, e] : jobs_) ++jobs[StateName(e->job.state())];
  metrics_->SetJobCounts(jobs);
  std::map<std::string, int> workers{{"idle", 0}, {"busy", 0}, {"lost", 0}};
  for (const auto& [id, a] : agents_) {
    for (const SlotUse& s : a->slots) {
      ++workers[a->lost ? "lost" : (s.busy() ? "busy" : "idle")];
    }
  }
  metrics_->SetWorkerCounts(workers);
}

}  // namespace vmae::server
