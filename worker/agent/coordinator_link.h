// The agent's connection to the coordinator: Register, one Session stream
// (hello with the epoch, then heartbeats listing the running ranks, then
// reports), reconnecting with backoff (1 s doubling to 10 s, forever) when
// the stream breaks or the coordinator restarts. Reports wait in a bounded
// queue while disconnected: steps and logs are dropped oldest first beyond
// the bound; exits, JobDone and checkpoint notices never are.
// Thread-safe.
#ifndef VMAE_WORKER_AGENT_COORDINATOR_LINK_H_
#define VMAE_WORKER_AGENT_COORDINATOR_LINK_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "vmae/v1/worker_service.grpc.pb.h"

namespace vmae::worker {

struct LinkOptions {
  std::string address;
  std::string tls_ca_pem;    // non-empty: TLS with these roots
  std::string join_token;
  vmae::v1::RegisterRequest registration;
  std::string health_file;   // written after every heartbeat sent
  size_t max_queued_reports = 1000;
};

class CoordinatorLink {
 public:
  using OnMessage = std::function<void(const vmae::v1::CoordinatorMessage&)>;
  using RunningFn = std::function<std::vector<vmae::v1::RunningRank>()>;

  CoordinatorLink(LinkOptions options, OnMessage on_message, RunningFn running);
  ~CoordinatorLink();

  void Start();
  // Closes the session (the coordinator sees the stream end) and joins.
  void Stop();

  // Queues a report; sent in order once a session is up.
  void Send(vmae::v1::AgentMessage m);
  size_t queued();

  // For the unary and streaming calls besides Session.
  vmae::v1::WorkerService::Stub* stub() { return stub_.get(); }
  // Adds the join token and a deadline.
  void Prepare(grpc::ClientContext* ctx, absl::Duration timeout) const;
  bool connected() const { return connected_; }
  bool stopping() const { return stop_; }
  // Sleeps up to d; returns early (false) when Stop() was called.
  bool SleepUnlessStopped(absl::Duration d);

 private:
  void Loop();
  absl::Status RunSession(absl::Duration register_wait);
  // Drops the oldest droppable report when over the bound.
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  LinkOptions options_;
  OnMessage on_message_;
  RunningFn running_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<vmae::v1::WorkerService::Stub> stub_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};

  absl::Mutex mu_;
  std::deque<vmae::v1::AgentMessage> queue_ ABSL_GUARDED_BY(mu_);
  size_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_broken_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* session_ctx_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_COORDINATOR_LINK_H_
