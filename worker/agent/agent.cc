// Agent: assignments, stop orders, heartbeated ranks, shutdown. The life of
// one rank is in agent_rank.cc.
#include "worker/agent/agent.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace vmae::worker {

namespace {

std::string ReasonName(vmae::v1::StopReason r) {
  switch (r) {
    case vmae::v1::STOP_REASON_CANCEL:
      return "cancel";
    case vmae::v1::STOP_REASON_PAUSE:
      return "pause";
    case vmae::v1::STOP_REASON_RESTART:
      return "restart";
    case vmae::v1::STOP_REASON_ORPHAN:
      return "orphan";
    default:
      return "unspecified";
  }
}

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Agent::Agent(AgentConfig config) : config_(std::move(config)) {
  LinkOptions lo;
  lo.address = config_.coordinator;
  lo.join_token = config_.join_token;
  if (!config_.tls_ca.empty()) {
    std::ifstream in(config_.tls_ca);
    std::stringstream pem;
    pem << in.rdbuf();
    lo.tls_ca_pem = pem.str();
  }
  lo.health_file = config_.health_file;
  auto& r = lo.registration;
  r.set_agent_id(config_.agent_id);
  r.set_node(config_.node);
  r.set_pod(config_.pod);
  r.set_address(config_.address);
  for (const auto& [k, v] : config_.labels) (*r.mutable_labels())[k] = v;
  for (const auto& d : config_.devices) *r.add_devices() = d;
#ifdef VMAE_VERSION
  r.set_version(VMAE_VERSION);
#endif
  link_ = std::make_unique<CoordinatorLink>(
      std::move(lo), [this](const vmae::v1::CoordinatorMessage& m) { OnMessage(m); },
      [this] { return Running(); });
}

Agent::~Agent() { Shutdown(); }

void Agent::Start() { link_->Start(); }

void Agent::Shutdown() {
  if (stopping_.exchange(true)) return;
  std::map<AttemptKey, std::unique_ptr<AttemptState>> all;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, at] : attempts_) {
      at->stopped = true;
      at->cancelled = true;
      for (auto& [rank, rs] : at->ranks) KillRank(rs.get(), SIGKILL);
    }
    all.swap(attempts_);
  }
  for (auto& [key, at] : all) {
    for (auto& [rank, rs] : at->ranks) {
      if (rs->thread.joinable()) rs->thread.join();
    }
    at->tasks.reset();
  }
  link_->Stop();
  LogInfo(absl::StrCat("agent ", config_.agent_id, " stopped; ", all.size(),
                       all.size() == 1 ? " attempt" : " attempts", " ended"));
}

void Agent::OnMessage(const vmae::v1::CoordinatorMessage& m) {
  if (stopping_) return;
  if (m.has_assign()) {
    OnAssignment(m.assign());
  } else if (m.has_stop()) {
    OnStop(m.stop());
  }
}

void Agent::OnAssignment(const vmae::v1::Assignment& a) {
  absl::MutexLock lock(&mu_);
  AttemptKey key{a.job_id(), a.attempt()};
  auto& slot = attempts_[key];
  if (!slot) {
    slot = std::make_unique<AttemptState>();
    slot->assignment = a;
    slot->job_id = a.job_id();
    slot->attempt = a.attempt();
  }
  AttemptState* at = slot.get();
  for (const auto& r : a.ranks()) {
    if (at->ranks.count(r.rank())) continue;  // already running (a repeated assignment)
    auto rs = std::make_unique<RankState>();
    rs->rank = r.rank();
    rs->slot = r.slot();
    rs->dir = absl::StrCat(config_.work_dir, "/", a.job_id(), "/a", a.attempt(), "/r", r.rank());
    LogLine(LogLevel::kInfo, LogContext{a.job_id(), r.rank(), a.attempt()},
            absl::StrCat("assigned: slot ", r.slot(), " of world size ", a.world_size(),
                         a.resume_checkpoint().empty() ? "" : ", resuming from ",
                         a.resume_checkpoint()));
    RankState* p = rs.get();
    at->ranks[r.rank()] = std::move(rs);
    p->thread = std::thread([this, at, p] { RunRank(at, p); });
  }
}

void Agent::KillRank(RankState* rs, int sig) {
  absl::MutexLock lock(&rs->mu);
  if (sig == SIGKILL) rs->killed_by_agent = true;
  if (rs->process != nullptr) rs->process->Signal(sig);
}

void Agent::OnStop(const vmae::v1::StopOrder& s) {
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find({s.job_id(), s.attempt()});
  if (it == attempts_.end()) return;
  AttemptState* at = it->second.get();
  LogLine(LogLevel::kInfo, LogContext{s.job_id(), -1, s.attempt()},
          absl::StrCat("stop order: ", ReasonName(s.reason()),
                       s.reason() == vmae::v1::STOP_REASON_PAUSE
                           ? absl::StrCat(" (SIGTERM, SIGKILL after ", s.grace_ms(), " ms)")
                           : " (SIGKILL)"));
  if (s.reason() == vmae::v1::STOP_REASON_PAUSE) {
    at->paused = true;
    int64_t grace = std::max(0, s.grace_ms());
    at->pause_kill_at_ms = SteadyMillis() + grace;
    for (auto& [rank, rs] : at->ranks) KillRank(rs.get(), SIGTERM);
    return;
  }
  at->stopped = true;
  if (s.reason() == vmae::v1::STOP_REASON_CANCEL) at->cancelled = true;
  for (auto& [rank, rs] : at->ranks) KillRank(rs.get(), SIGKILL);
}

std::vector<vmae::v1::RunningRank> Agent::Running() {
  ReapFinished();
  std::vector<vmae::v1::RunningRank> out;
  absl::MutexLock lock(&mu_);
  for (auto& [key, at] : attempts_) {
    for (auto& [rank, rs] : at->ranks) {
      if (rs->finished) continue;
      {
        absl::MutexLock rl(&rs->mu);
        if (rs->killed_by_agent) continue;
      }
      vmae::v1::RunningRank r;
      r.set_job_id(at->job_id);
      r.set_attempt(at->attempt);
      r.set_rank(rank);
      out.push_back(std::move(r));
    }
  }
  return out;
}

void Agent::ReapFinished() {
  std::vector<std::unique_ptr<AttemptState>> done;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = attempts_.begin(); it != attempts_.end();) {
      bool all = true;
      for (auto& [rank, rs] : it->second->ranks) all = all && rs->finished;
      if (all && it->second->tasks->Idle()) {
        done.push_back(std::move(it->second));
        it = attempts_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& at : done) {
    for (auto& [rank, rs] : at->ranks) {
      if (rs->thread.joinable()) rs->thread.join();
    }
  }
}

void Agent::ReportExit(AttemptState* at, int rank, const ExitSummary& s) {
  vmae::v1::AgentMessage m;
  auto* x = m.mutable_exit();
  x->set_job_id(at->job_id);
  x->set_attempt(at->attempt);
  x->set_rank(rank);
  x->set_exit_code(s.exit_code);
  x->set_failure_kind(s.kind);
  x->set_message(s.message.size() > 4096 ? s.message.substr(0, 4096) : s.message);
  // Behind the attempt's uploads: a checkpoint written before the exit lands
  // first (a pausing job is then released with it).
  at->tasks->Post([this, m = std::move(m)] { link_->Send(m); });
}

}  // namespace vmae::worker
