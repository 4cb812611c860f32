#include "tests/testing/fake_agent.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/sha256.h"

namespace vmae::testing {

using vmae::v1::AgentMessage;

FakeAgent::FakeAgent(std::shared_ptr<grpc::Channel> channel, FakeAgentOptions options)
    : channel_(std::move(channel)),
      options_(std::move(options)),
      stub_(vmae::v1::WorkerService::NewStub(channel_)) {}

FakeAgent::~FakeAgent() { Disconnect(); }

void FakeAgent::Auth(grpc::ClientContext* ctx, int timeout_s) {
  if (!options_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
}

absl::Status FakeAgent::Connect() {
  Disconnect();
  stop_ = false;
  vmae::v1::RegisterRequest req;
  req.set_agent_id(options_.agent_id);
  req.set_node(options_.node.empty() ? options_.agent_id : options_.node);
  req.set_pod(options_.agent_id + "-pod");
  req.set_address("127.0.0.1");
  for (const auto& [k, v] : options_.labels) (*req.mutable_labels())[k] = v;
  for (int i = 0; i < options_.slots; ++i) {
    auto* d = req.add_devices();
    d->set_kind(options_.kind);
    d->set_index(i);
    if (options_.kind == "cuda") d->set_uuid(absl::StrCat("GPU-fake-", options_.agent_id, "-", i));
  }
  vmae::v1::RegisterResponse resp;
  grpc::ClientContext ctx;
  Auth(&ctx);
  grpc::Status s = stub_->Register(&ctx, req, &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  epoch_ = resp.epoch();
  session_ctx_ = std::make_unique<grpc::ClientContext>();
  if (!options_.token.empty()) {
    session_ctx_->AddMetadata("authorization", "Bearer " + options_.token);
  }
  stream_ = stub_->Session(session_ctx_.get());
  AgentMessage hello;
  hello.mutable_hello()->set_agent_id(options_.agent_id);
  hello.mutable_hello()->set_epoch(epoch_);
  if (!stream_->Write(hello)) return absl::UnavailableError("session closed at hello");
  reader_ = std::thread([this] { ReadLoop(); });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  return absl::OkStatus();
}

void FakeAgent::Disconnect() {
  stop_ = true;
  if (session_ctx_) session_ctx_->TryCancel();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (reader_.joinable()) reader_.join();
  stream_.reset();
  session_ctx_.reset();
}

void FakeAgent::PauseHeartbeats(bool paused) { paused_ = paused; }

void FakeAgent::ReadLoop() {
  vmae::v1::CoordinatorMessage m;
  while (stream_->Read(&m)) {
    absl::MutexLock lock(&mu_);
    if (m.has_assign()) {
      assignments_.push_back(m.assign());
      for (const auto& r : m.assign().ranks()) {
        vmae::v1::RunningRank rr;
        rr.set_job_id(m.assign().job_id());
        rr.set_attempt(m.assign().attempt());
        rr.set_rank(r.rank());
        running_.push_back(rr);
      }
    } else if (m.has_stop()) {
      stops_.push_back(m.stop());
      // Like a real agent: stopped ranks are no longer running.
      const auto& stop = m.stop();
      running_.erase(std::remove_if(running_.begin(), running_.end(),
                                    [&](const vmae::v1::RunningRank& r) {
                                      return r.job_id() == stop.job_id() &&
                                             r.attempt() == stop.attempt() &&
                                             stop.reason() != vmae::v1::STOP_REASON_PAUSE;
                                    }),
                     running_.end());
    }
  }
}

void FakeAgent::HeartbeatLoop() {
  while (!stop_) {
    if (!paused_) {
      AgentMessage m;
      {
        absl::MutexLock lock(&mu_);
        for (const auto& r : running_) *m.mutable_heartbeat()->add_running() = r;
      }
      m.mutable_heartbeat();
      Send(m);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.heartbeat_ms));
  }
}

bool FakeAgent::Send(const AgentMessage& m) {
  absl::MutexLock lock(&write_mu_);
  if (!stream_) return false;
  return stream_->Write(m);
}

std::optional<vmae::v1::Assignment> FakeAgent::WaitAssignment(int timeout_ms) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !assignments_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(timeout_ms))) {
    return std::nullopt;
  }
  auto a = assignments_.front();
  assignments_.pop_front();
  return a;
}

std::optional<vmae::v1::StopOrder> FakeAgent::WaitStop(int timeout_ms) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !stops_.empty(); };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(timeout_ms))) {
    return std::nullopt;
  }
  auto s = stops_.front();
  stops_.pop_front();
  return s;
}

void FakeAgent::StopRanks(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  running_.erase(std::remove_if(running_.begin(), running_.end(),
                                [&](const vmae::v1::RunningRank& r) { return r.job_id() == job_id; }),
                 running_.end());
}

bool FakeAgent::SendStep(const std::string& job, int attempt, int64_t step, double loss,
                         int64_t total_steps) {
  AgentMessage m;
  auto* s = m.mutable_step();
  s->set_job_id(job);
  s->set_attempt(attempt);
  s->set_step(step);
  s->set_total_steps(total_steps);
  s->set_samples_seen(step * 8);
  s->set_loss(loss);
  s->set_lr(1e-4);
  s->set_grad_norm(1.0);
  s->set_clips_per_second(10.0);
  s->set_data_seconds(0.01);
  s->set_compute_seconds(0.1);
  s->set_allreduce_seconds(0.02);
  return Send(m);
}

bool FakeAgent::SendLogs(const std::string& job, int attempt, int rank,
                         const std::vector<std::string>& lines) {
  AgentMessage m;
  auto* l = m.mutable_logs();
  l->set_job_id(job);
  l->set_attempt(attempt);
  l->set_rank(rank);
  for (const auto& line : lines) l->add_lines(line);
  return Send(m);
}

bool FakeAgent::SendExit(const std::string& job, int attempt, int rank, int code,
                         vmae::v1::FailureKind kind, const std::string& message) {
  AgentMessage m;
  auto* x = m.mutable_exit();
  x->set_job_id(job);
  x->set_attempt(attempt);
  x->set_rank(rank);
  x->set_exit_code(code);
  x->set_failure_kind(kind);
  x->set_message(message);
  return Send(m);
}

bool FakeAgent::SendDone(const std::string& job, int attempt, int64_t step) {
  AgentMessage m;
  auto* d = m.mutable_done();
  d->set_job_id(job);
  d->set_attempt(attempt);
  d->set_step(step);
  return Send(m);
}

absl::StatusOr<vmae::v1::UploadState> FakeAgent::Upload(
    const std::string& job, int attempt, int64_t step,
    const std::map<std::string, std::string>& files, double val_top1, int64_t max_bytes) {
  vmae::v1::BeginCheckpointUploadRequest begin;
  begin.set_job_id(job);
  begin.set_attempt(attempt);
  begin.set_step(step);
  begin.set_samples_seen(step * 8);
  begin.set_val_top1(val_top1);
  for (const auto& [name, data] : files) {
    auto* f = begin.add_files();
    f->set_name(name);
    f->set_size(static_cast<int64_t>(data.size()));
    f->set_sha256(Sha256Hex(data));
  }
  vmae::v1::UploadState state;
  {
    grpc::ClientContext ctx;
    Auth(&ctx);
    grpc::Status s = stub_->BeginCheckpointUpload(&ctx, begin, &state);
    if (!s.ok()) return FromGrpcStatus(s);
  }
  if (state.committed()) return state;
  std::map<std::string, int64_t> held;
  for (const auto& r : state.received()) held[r.name()] = r.size();
  grpc::ClientContext ctx;
  Auth(&ctx, 60);
  vmae::v1::UploadState result;
  auto writer = stub_->UploadCheckpoint(&ctx, &result);
  int64_t sent = 0;
  constexpr int64_t kChunk = 1 << 20;
  for (const auto& [name, data] : files) {
    for (int64_t off = held[name]; off < static_cast<int64_t>(data.size()); off += kChunk) {
      int64_t n = std::min<int64_t>(kChunk, static_cast<int64_t>(data.size()) - off);
      if (max_bytes >= 0 && sent + n > max_bytes) n = max_bytes - sent;
      if (n <= 0) break;
      vmae::v1::UploadChunk c;
      c.set_upload_id(state.upload_id());
      c.set_file(name);
      c.set_offset(off);
      c.set_data(data.substr(static_cast<size_t>(off), static_cast<size_t>(n)));
      if (!writer->Write(c)) break;
      sent += n;
    }
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  return result;
}

absl::StatusOr<std::map<std::string, std::string>> FakeAgent::Fetch(const std::string& checkpoint_id) {
  vmae::v1::FetchCheckpointRequest req;
  req.set_checkpoint(checkpoint_id);
  grpc::ClientContext ctx;
  Auth(&ctx, 60);
  auto reader = stub_->FetchCheckpoint(&ctx, req);
  std::map<std::string, std::string> files;
  std::string current;
  vmae::v1::DownloadChunk c;
  while (reader->Read(&c)) {
    if (c.has_file()) {
      current = c.file().name();
      files[current];
    } else {
      files[current] += c.data();
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  return files;
}

}  // namespace vmae::testing
