#include "worker/agent/coordinator_link.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "worker/agent/health_file.h"

namespace vmae::worker {

namespace {

constexpr int kMaxMessageBytes = 8 << 20;  // 1 MiB chunks plus headroom

bool Droppable(const vmae::v1::AgentMessage& m) {
  return m.has_step() || m.has_logs() || m.has_heartbeat();
}

std::shared_ptr<grpc::Channel> MakeChannel(const LinkOptions& o) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // gRPC's own reconnect backoff grows to 2 minutes; the channel retries
  // every second instead, and Loop() paces the Register attempts (1..10 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Notice a dead coordinator (no FIN, e.g. a node gone) within ~20 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!o.tls_ca_pem.empty()) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = o.tls_ca_pem;
    creds = grpc::SslCredentials(ssl);
  }
  return grpc::CreateCustomChannel(o.address, creds, args);
}

}  // namespace

CoordinatorLink::CoordinatorLink(LinkOptions options, OnMessage on_message, RunningFn running)
    : options_(std::move(options)),
      on_message_(std::move(on_message)),
      running_(std::move(running)),
      channel_(MakeChannel(options_)),
      stub_(vmae::v1::WorkerService::NewStub(channel_)) {}

CoordinatorLink::~CoordinatorLink() { Stop(); }

void CoordinatorLink::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void CoordinatorLink::Stop() {
  stop_ = true;
  {
    absl::MutexLock lock(&mu_);
    if (session_ctx_ != nullptr) session_ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void CoordinatorLink::Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const {
  if (!options_.join_token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + options_.join_token);
  }
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

bool CoordinatorLink::SleepUnlessStopped(absl::Duration d) {
  absl::Time until = absl::Now() + d;
  while (!stop_ && absl::Now() < until) {
    absl::SleepFor(std::min(absl::Milliseconds(100), until - absl::Now()));
  }
  return !stop_;
}

void CoordinatorLink::Send(vmae::v1::AgentMessage m) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(m));
  TrimLocked();
}

size_t CoordinatorLink::queued() {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void CoordinatorLink::TrimLocked() {
  while (queue_.size() > options_.max_queued_reports) {
    auto it = std::find_if(queue_.begin(), queue_.end(), Droppable);
    if (it == queue_.end()) return;  // only exits, done and notices: keep them all
    queue_.erase(it);
    if (dropped_++ % 100 == 0) {
      LogWarning(absl::StrCat("report queue full (", options_.max_queued_reports,
                              ") while disconnected: dropping the oldest step and log reports"));
    }
  }
}

void CoordinatorLink::Loop() {
  absl::Duration backoff = absl::Seconds(1);
  while (!stop_) {
    absl::Time started = absl::Now();
    absl::Status s = RunSession(backoff);
    connected_ = false;
    if (stop_) break;
    // A session that lasted a while was healthy: start the backoff over.
    if (absl::Now() - started > absl::Seconds(30)) {
      backoff = absl::Seconds(1);
      started = absl::Now();
    }
    LogWarning(absl::StrCat("coordinator ", options_.address, ": ", s.message(),
                            "; reconnecting (backoff ", absl::ToInt64Seconds(backoff),
                            " s; trainers keep running)"));
    // Attempts start at most once per backoff period. Register waits for
    // the channel during that period, so a coordinator that comes back is
    // found within about a second, well inside its lease.
    if (!SleepUnlessStopped(started + backoff - absl::Now())) break;
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::Status CoordinatorLink::RunSession(absl::Duration register_wait) {
  vmae::v1::RegisterResponse reg;
  {
    grpc::ClientContext ctx;
    Prepare(&ctx, std::max(register_wait, absl::Seconds(1)));
    ctx.set_wait_for_ready(true);  // wait out the channel's reconnects, not fail at once
    grpc::Status s = stub_->Register(&ctx, options_.registration, &reg);
    if (!s.ok()) {
      return absl::Status(FromGrpcStatus(s).code(),
                          absl::StrCat("Register failed: ", s.error_message()));
    }
  }
  const absl::Duration heartbeat =
      absl::Milliseconds(reg.heartbeat_interval_ms() > 0 ? reg.heartbeat_interval_ms() : 2000);
  grpc::ClientContext ctx;
  if (!options_.join_token.empty()) {
    ctx.AddMetadata("authorization", "Bearer " + options_.join_token);
  }
  {
    absl::MutexLock lock(&mu_);
    session_ctx_ = &ctx;
    stream_broken_ = false;
  }
  auto stream = stub_->Session(&ctx);
  vmae::v1::AgentMessage hello;
  hello.mutable_hello()->set_agent_id(options_.registration.agent_id());
  hello.mutable_hello()->set_epoch(reg.epoch());
  std::thread reader;
  if (stream->Write(hello)) {
    reader = std::thread([&] {
      vmae::v1::CoordinatorMessage m;
      while (stream->Read(&m)) on_message_(m);
      absl::MutexLock lock(&mu_);
      stream_broken_ = true;
    });
    connected_ = true;
    LogInfo(absl::StrCat("agent ", options_.registration.agent_id(), " connected to ",
                         options_.address, " (epoch ", reg.epoch(), ", ",
                         options_.registration.devices_size(), " slots)"));
  } else {
    absl::MutexLock lock(&mu_);
    stream_broken_ = true;
  }

  absl::Time next_heartbeat = absl::Now();
  while (!stop_) {
    std::vector<vmae::v1::AgentMessage> batch;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stream_broken_ || !queue_.empty() || stop_;
      };
      mu_.AwaitWithDeadline(absl::Condition(&ready), next_heartbeat);
      if (stream_broken_) break;
      while (!queue_.empty() && batch.size() < 64) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (stop_) {
      // Give back what we took: nothing more is sent.
      break;
    }
    bool failed = false;
    if (absl::Now() >= next_heartbeat) {
      vmae::v1::AgentMessage hb;
      auto* h = hb.mutable_heartbeat();
      for (auto& r : running_()) *h->add_running() = std::move(r);
      if (stream->Write(hb)) {
        if (!options_.health_file.empty()) {
          absl::Status hs = WriteHealthFile(options_.health_file, absl::ToUnixSeconds(absl::Now()));
          if (!hs.ok()) LogWarning(hs.message());
        }
      } else {
        failed = true;
      }
      next_heartbeat = absl::Now() + heartbeat;
    }
    size_t sent = 0;
    for (; !failed && sent < batch.size(); ++sent) {
      if (!stream->Write(batch[sent])) failed = true;
    }
    if (failed) {
      // Unsent reports go back to the front, in order, for the next session
      // (a report may be delivered twice; the coordinator tolerates that).
      absl::MutexLock lock(&mu_);
      size_t first_unsent = sent == 0 ? 0 : sent - 1;
      for (size_t i = batch.size(); i > first_unsent; --i) {
        queue_.push_front(std::move(batch[i - 1]));
      }
      TrimLocked();
      stream_broken_ = true;
      break;
    }
  }
  ctx.TryCancel();
  if (reader.joinable()) reader.join();
  grpc::Status fin = stream->Finish();
  {
    absl::MutexLock lock(&mu_);
    session_ctx_ = nullptr;
  }
  if (stop_) return absl::CancelledError("agent stopping");
  return absl::UnavailableError(
      absl::StrCat("session ended: ", fin.ok() ? "closed by the coordinator" : fin.error_message()));
}

}  // namespace vmae::worker
