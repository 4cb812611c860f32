// Agent: the life of one rank: work dir and spec.json, checkpoints fetched,
// rendezvous, the trainer process, its reports, its exit.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "google/protobuf/util/json_util.h"
#include "worker/agent/agent.h"
#include "worker/agent/checkpoint_transfer.h"

namespace vmae::worker {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxBatchLines = 200;
constexpr size_t kMaxBatchBytes = 256 * 1024;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Transient(absl::StatusCode c) {
  return c == absl::StatusCode::kUnavailable || c == absl::StatusCode::kDeadlineExceeded ||
         c == absl::StatusCode::kInternal || c == absl::StatusCode::kUnknown ||
         c == absl::StatusCode::kResourceExhausted || c == absl::StatusCode::kCancelled;
}

absl::Status WriteSpec(const vmae::v1::JobSpec& spec, const std::string& path) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;  // the names of the job file
  opts.always_print_primitive_fields = true;
  opts.add_whitespace = true;
  auto s = google::protobuf::util::MessageToJsonString(spec, &json, opts);
  if (!s.ok()) return absl::InternalError(absl::StrCat("cannot encode the job spec: ", s.ToString()));
  std::ofstream out(path, std::ios::trunc);
  out << json << "\n";
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path, "; check --work-dir"));
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> Agent::TrainerArgs(const vmae::v1::Assignment& a, int rank, int slot,
                                            const std::string& dir, const std::string& store,
                                            const std::string& resume_dir,
                                            const std::string& init_dir) const {
  std::vector<std::string> args = config_.trainer;
  auto add = [&](const std::string& flag, const std::string& value) {
    args.push_back(flag);
    args.push_back(value);
  };
  args.push_back("train");
  add("--spec", dir + "/spec.json");
  add("--job-id", a.job_id());
  add("--attempt", std::to_string(a.attempt()));
  add("--rank", std::to_string(rank));
  add("--world-size", std::to_string(a.world_size()));
  add("--work-dir", dir);
  if (!store.empty()) add("--store", store);
  if (!config_.data_root.empty()) add("--data-root", config_.data_root);
  if (!resume_dir.empty()) add("--resume", resume_dir);
  if (!init_dir.empty()) add("--init-from", init_dir);
  std::string device = "cpu";
  if (slot >= 0 && slot < static_cast<int>(config_.devices.size()) &&
      config_.devices[slot].kind() == "cuda") {
    device = absl::StrCat("cuda:", config_.physical_devices[slot]);
  }
  add("--device", device);
  add("--threads", std::to_string(config_.threads));
  if (config_.collective_timeout_s > 0) {
    add("--collective-timeout-s", std::to_string(config_.collective_timeout_s));
  }
  return args;
}

absl::StatusOr<std::string> Agent::FetchWithRetry(AttemptState* at, const std::string& id) {
  const std::string root = absl::StrCat(config_.work_dir, "/", at->job_id, "/fetched");
  absl::Duration backoff = absl::Seconds(1);
  while (true) {
    absl::StatusOr<std::string> dir;
    {
      absl::MutexLock lock(&fetch_mu_);
      if (at->stopped || at->paused || stopping_) return absl::CancelledError("stopped");
      dir = FetchCheckpointTo(link_.get(), id, at->job_id, root);
    }
    if (dir.ok() || !Transient(dir.status().code())) return dir;
    LogLine(LogLevel::kWarning, LogContext{at->job_id, -1, at->attempt},
            absl::StrCat(dir.status().message(), "; retrying in ", absl::ToInt64Seconds(backoff),
                         " s"));
    absl::Time until = absl::Now() + backoff;
    while (absl::Now() < until) {
      if (at->stopped || at->paused || stopping_) return absl::CancelledError("stopped");
      absl::SleepFor(absl::Milliseconds(100));
    }
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::StatusOr<std::string> Agent::WaitForStore(AttemptState* at, RankState* rs) {
  vmae::v1::KvGetRequest req;
  req.set_job_id(at->job_id);
  req.set_attempt(at->attempt);
  req.set_key(at->assignment.rendezvous_prefix() + "store");
  req.set_wait_ms(5000);  // short waits, so a stop order is noticed
  while (!at->stopped && !at->paused && !stopping_) {
    grpc::ClientContext ctx;
    link_->Prepare(&ctx, absl::Seconds(15));
    vmae::v1::KvGetResponse resp;
    absl::Status s = FromGrpcStatus(link_->stub()->KvGet(&ctx, req, &resp));
    if (s.ok()) return resp.value();
    if (s.code() == absl::StatusCode::kNotFound) continue;  // not published yet: ask again
    if (s.code() == absl::StatusCode::kAborted) {
      return absl::AbortedError(absl::StrCat("attempt ", at->attempt, " is over: ", s.message()));
    }
    if (!Transient(s.code())) return s;
    link_->SleepUnlessStopped(absl::Seconds(1));
  }
  return absl::CancelledError("stopped while waiting for rank 0's store address");
}

void Agent::PublishStore(AttemptState* at, RankState* rs, int port) {
  std::string host = at->assignment.master_address();
  if (host.empty()) host = config_.address;
  vmae::v1::KvSetRequest req;
  req.set_job_id(at->job_id);
  req.set_attempt(at->attempt);
  req.set_key(at->assignment.rendezvous_prefix() + "store");
  req.set_value(absl::StrCat(host, ":", port));
  LogContext lc{at->job_id, rs->rank, at->attempt};
  while (!at->stopped && !stopping_ && !rs->exited) {
    grpc::ClientContext ctx;
    link_->Prepare(&ctx, absl::Seconds(10));
    vmae::v1::KvSetResponse resp;
    absl::Status s = FromGrpcStatus(link_->stub()->KvSet(&ctx, req, &resp));
    if (s.ok()) {
      LogLine(LogLevel::kInfo, lc, absl::StrCat("published store address ", req.value()));
      return;
    }
    if (!Transient(s.code())) {
      LogLine(LogLevel::kWarning, lc, absl::StrCat("cannot publish the store address: ", s.message()));
      return;
    }
    link_->SleepUnlessStopped(absl::Seconds(1));
  }
}

void Agent::Upload(AttemptState* at, const CheckpointEvent& ev) {
  LogContext lc{at->job_id, 0, at->attempt};
  UploadRequest req;
  req.job_id = at->job_id;
  req.attempt = at->attempt;
  req.step = ev.step;
  req.samples_seen = ev.samples_seen;
  req.val_top1 = ev.val_top1;
  req.dir = ev.dir;
  auto state = UploadCheckpointDir(link_.get(), req,
                                   [this, at] { return !at->cancelled && !stopping_; });
  if (!state.ok()) {
    if (state.status().code() == absl::StatusCode::kNotFound) {
      LogLine(LogLevel::kWarning, lc,
              absl::StrCat("checkpoint of step ", ev.step, " dropped: ", state.status().message()));
    } else if (state.status().code() != absl::StatusCode::kCancelled) {
      LogLine(LogLevel::kError, lc,
              absl::StrCat("checkpoint of step ", ev.step, " not uploaded: ", state.status().message()));
    }
    return;
  }
  LogLine(LogLevel::kInfo, lc,
          absl::StrCat("checkpoint ", state->checkpoint().id(), " committed (", ev.reason, ", ",
                       state->checkpoint().size_bytes(), " bytes)"));
  vmae::v1::AgentMessage m;
  auto* n = m.mutable_checkpoint();
  n->set_job_id(at->job_id);
  n->set_attempt(at->attempt);
  n->set_step(ev.step);
  n->set_upload_id(state->upload_id());
  link_->Send(std::move(m));
}

void Agent::RunRank(AttemptState* at, RankState* rs) {
  const vmae::v1::Assignment& a = at->assignment;
  LogContext lc{at->job_id, rs->rank, at->attempt};
  auto fail = [&](int code, vmae::v1::FailureKind kind, const std::string& message) {
    LogLine(LogLevel::kError, lc, message);
    ReportExit(at, rs->rank, ExitSummary{code, kind, message});
    rs->exited = true;
    rs->finished = true;
  };
  auto quiet_end = [&](const std::string& why) {
    LogLine(LogLevel::kInfo, lc, why);
    rs->exited = true;
    rs->finished = true;
  };

  std::error_code ec;
  fs::create_directories(rs->dir, ec);
  if (ec) {
    return fail(1, vmae::v1::FAILURE_KIND_INFRASTRUCTURE,
                absl::StrCat("cannot create ", rs->dir, ": ", ec.message(), "; check --work-dir"));
  }
  if (absl::Status s = WriteSpec(a.spec(), rs->dir + "/spec.json"); !s.ok()) {
    return fail(1, vmae::v1::FAILURE_KIND_INFRASTRUCTURE, std::string(s.message()));
  }
  std::string resume_dir, init_dir;
  for (auto [id, out] : {std::pair{a.resume_checkpoint(), &resume_dir},
                         std::pair{a.init_checkpoint(), &init_dir}}) {
    if (id.empty()) continue;
    auto dir = FetchWithRetry(at, id);
    if (!dir.ok()) {
      if (dir.status().code() == absl::StatusCode::kCancelled) return quiet_end("stopped before start");
      return fail(1, vmae::v1::FAILURE_KIND_INFRASTRUCTURE, std::string(dir.status().message()));
    }
    *out = *dir;
  }
  std::string store;
  if (rs->rank > 0) {
    auto s = WaitForStore(at, rs);
    if (!s.ok()) {
      if (s.status().code() == absl::StatusCode::kCancelled ||
          s.status().code() == absl::StatusCode::kAborted) {
        return quiet_end(std::string(s.status().message()));
      }
      return fail(1, vmae::v1::FAILURE_KIND_INFRASTRUCTURE,
                  absl::StrCat("rendezvous failed: ", s.status().message()));
    }
    store = *s;
  }

  SpawnOptions so;
  so.argv = TrainerArgs(a, rs->rank, rs->slot, rs->dir, store, resume_dir, init_dir);
  const std::string threads = std::to_string(config_.threads);
  so.env = {{"OMP_NUM_THREADS", threads},
            {"OPENBLAS_NUM_THREADS", threads},
            {"MKL_NUM_THREADS", threads}};
  so.cwd = rs->dir;
  absl::StatusOr<std::unique_ptr<TrainerProcess>> spawned =
      absl::CancelledError("stopped before start");
  {
    // Spawn under the rank's lock: a kill order that arrives meanwhile
    // either prevents the start or finds the process.
    absl::MutexLock lock(&rs->mu);
    if (!at->stopped && !at->paused && !stopping_ && !rs->killed_by_agent) {
      spawned = TrainerProcess::Spawn(so);
      if (spawned.ok()) rs->process = spawned->get();
    }
  }
  if (!spawned.ok()) {
    if (spawned.status().code() == absl::StatusCode::kCancelled) {
      return quiet_end(std::string(spawned.status().message()));
    }
    return fail(127, vmae::v1::FAILURE_KIND_INFRASTRUCTURE, std::string(spawned.status().message()));
  }
  std::unique_ptr<TrainerProcess> proc = std::move(*spawned);
  LogLine(LogLevel::kInfo, lc,
          absl::StrCat("trainer started (pid ", proc->pid(), store.empty() ? "" : ", store ", store,
                       ")"));

  std::string error_kind, error_message, last_stderr;
  vmae::v1::AgentMessage batch;
  size_t batch_bytes = 0;
  auto flush = [&] {
    if (batch.logs().lines_size() == 0) return;
    auto* l = batch.mutable_logs();
    l->set_job_id(at->job_id);
    l->set_attempt(at->attempt);
    l->set_rank(rs->rank);
    link_->Send(std::move(batch));
    batch.Clear();
    batch_bytes = 0;
  };
  auto add_log = [&](absl::string_view line, bool truncated) {
    std::string text(line);
    if (truncated) text += " [line cut at 64 KiB]";
    batch_bytes += text.size();
    batch.mutable_logs()->add_lines(std::move(text));
    if (batch.logs().lines_size() >= static_cast<int>(kMaxBatchLines) ||
        batch_bytes >= kMaxBatchBytes) {
      flush();
    }
  };
  std::thread publisher;
  // The coordinator takes every StepReport as a step: an eval report
  // repeats the last step's figures, so loss and progress do not read 0.
  vmae::v1::StepReport last_step;
  auto on_stdout = [&](absl::string_view line, bool truncated) {
    TrainerEvent ev =
        truncated ? TrainerEvent{} : ParseTrainerLine(line, at->job_id, at->attempt);
    switch (ev.kind) {
      case EventKind::kLog:
        add_log(line, truncated);
        break;
      case EventKind::kStarted:
        LogLine(LogLevel::kDebug, lc, absl::StrCat("trainer reports started, pid ", ev.pid));
        break;
      case EventKind::kRendezvous:
        if (!publisher.joinable()) {
          int port = ev.port;
          publisher = std::thread([this, at, rs, port] { PublishStore(at, rs, port); });
        }
        break;
      case EventKind::kStep:
      case EventKind::kEval: {
        vmae::v1::AgentMessage m;
        if (ev.kind == EventKind::kStep) {
          last_step = ev.report;
          last_step.clear_extra();
          last_step.clear_data_errors();
          *m.mutable_step() = std::move(ev.report);
        } else {
          vmae::v1::StepReport* r = m.mutable_step();
          if (last_step.step() > 0) *r = last_step;
          r->set_job_id(at->job_id);
          r->set_attempt(at->attempt);
          r->set_step(ev.report.step());
          r->set_epoch(ev.report.epoch());
          *r->mutable_extra() = ev.report.extra();
        }
        link_->Send(std::move(m));
        break;
      }
      case EventKind::kCheckpoint: {
        CheckpointEvent ck = ev.checkpoint;
        LogLine(LogLevel::kInfo, lc,
                absl::StrCat("checkpoint of step ", ck.step, " (", ck.reason, ") at ", ck.dir,
                             "; uploading"));
        at->tasks->Post([this, at, ck] { Upload(at, ck); });
        break;
      }
      case EventKind::kDone: {
        LogLine(LogLevel::kInfo, lc, absl::StrCat("training done at step ", ev.step));
        vmae::v1::AgentMessage m;
        m.mutable_done()->set_job_id(at->job_id);
        m.mutable_done()->set_attempt(at->attempt);
        m.mutable_done()->set_step(ev.step);
        at->tasks->Post([this, m = std::move(m)] { link_->Send(m); });
        break;
      }
      case EventKind::kStopped:
        LogLine(LogLevel::kInfo, lc, absl::StrCat("trainer stopped at step ", ev.step));
        break;
      case EventKind::kError:
        error_kind = ev.error_kind;
        error_message = ev.error_message;
        LogLine(LogLevel::kWarning, lc,
                absl::StrCat("trainer error (", ev.error_kind, "): ", ev.error_message));
        add_log(line, false);
        break;
    }
  };
  auto on_stderr = [&](absl::string_view line, bool truncated) {
    if (!line.empty()) last_stderr = std::string(line);
    add_log(line, truncated);
  };
  auto tick = [&] {
    flush();
    int64_t kill_at = at->pause_kill_at_ms;
    if (kill_at > 0 && SteadyMillis() >= kill_at) {
      bool first = false;
      {
        absl::MutexLock lock(&rs->mu);
        first = !rs->killed_by_agent;
      }
      if (first) {
        LogLine(LogLevel::kWarning, lc, "pause grace expired: SIGKILL");
        KillRank(rs, SIGKILL);
      }
    }
  };
  int status = proc->Run(on_stdout, on_stderr, tick);
  flush();
  rs->exited = true;
  if (publisher.joinable()) publisher.join();
  bool killed;
  {
    absl::MutexLock lock(&rs->mu);
    rs->process = nullptr;
    killed = rs->killed_by_agent;
  }
  proc.reset();
  ExitSummary s = ClassifyExit(status, error_kind, error_message, last_stderr);
  if (killed) {
    LogLine(LogLevel::kInfo, lc, "trainer killed on order");
  } else {
    LogLine(s.exit_code == 0 ? LogLevel::kInfo : LogLevel::kWarning, lc,
            absl::StrCat("trainer exited with ",
                         s.exit_code < 0 ? absl::StrCat("signal ", -s.exit_code)
                                         : absl::StrCat("code ", s.exit_code),
                         s.message.empty() ? "" : ": ", s.message));
    ReportExit(at, rs->rank, s);
  }
  rs->finished = true;
}

}  // namespace vmae::worker
