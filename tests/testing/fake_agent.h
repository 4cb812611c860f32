// A test agent that speaks the real WorkerService over gRPC: it registers,
// holds the Session stream, heartbeats the ranks it "runs", and lets a test
// send reports and upload checkpoints. No trainer processes are started.
// Thread-safe.
#ifndef VMAE_TESTS_TESTING_FAKE_AGENT_H_
#define VMAE_TESTS_TESTING_FAKE_AGENT_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "vmae/v1/worker_service.grpc.pb.h"

namespace vmae::testing {

struct FakeAgentOptions {
  std::string agent_id = "agent-a";
  std::string node;  // default: agent_id
  int slots = 2;
  std::string kind = "cpu";
  std::map<std::string, std::string> labels;
  std::string token;  // join token
  int heartbeat_ms = 200;
};

class FakeAgent {
 public:
  FakeAgent(std::shared_ptr<grpc::Channel> channel, FakeAgentOptions options);
  ~FakeAgent();

  // Register, open the session, start heartbeats. Ranks of every
  // assignment received are reported as running until Finish/StopRank.
  absl::Status Connect();
  // Close the stream and stop heartbeating (an agent that died).
  void Disconnect();
  // Keep the stream but stop sending anything (an agent that hangs).
  void PauseHeartbeats(bool paused);

  std::optional<vmae::v1::Assignment> WaitAssignment(int timeout_ms);
  std::optional<vmae::v1::StopOrder> WaitStop(int timeout_ms);
  // The ranks it reports running no longer include these.
  void StopRanks(const std::string& job_id);

  bool Send(const vmae::v1::AgentMessage& m);
  bool SendStep(const std::string& job, int attempt, int64_t step, double loss,
                int64_t total_steps = 100);
  bool SendLogs(const std::string& job, int attempt, int rank, const std::vector<std::string>& lines);
  bool SendExit(const std::string& job, int attempt, int rank, int code,
                vmae::v1::FailureKind kind = vmae::v1::FAILURE_KIND_UNSPECIFIED,
                const std::string& message = "");
  bool SendDone(const std::string& job, int attempt, int64_t step);

  // Two-phase upload of in-memory files; stops after `max_bytes` bytes if
  // >= 0 (to test resuming).
  absl::StatusOr<vmae::v1::UploadState> Upload(const std::string& job, int attempt, int64_t step,
                                               const std::map<std::string, std::string>& files,
                                               double val_top1 = 0, int64_t max_bytes = -1);
  absl::StatusOr<std::map<std::string, std::string>> Fetch(const std::string& checkpoint_id);

  int64_t epoch() const { return epoch_; }
  vmae::v1::WorkerService::Stub* stub() { return stub_.get(); }

 private:
  void ReadLoop();
  void HeartbeatLoop();
  void Auth(grpc::ClientContext* ctx, int timeout_s = 10);

  std::shared_ptr<grpc::Channel> channel_;
  FakeAgentOptions options_;
  std::unique_ptr<vmae::v1::WorkerService::Stub> stub_;
  int64_t epoch_ = 0;

  std::unique_ptr<grpc::ClientContext> session_ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<vmae::v1::AgentMessage, vmae::v1::CoordinatorMessage>>
      stream_;
  absl::Mutex write_mu_;
  std::thread reader_;
  std::thread heartbeat_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};

  absl::Mutex mu_;
  std::deque<vmae::v1::Assignment> assignments_ ABSL_GUARDED_BY(mu_);
  std::deque<vmae::v1::StopOrder> stops_ ABSL_GUARDED_BY(mu_);
  std::vector<vmae::v1::RunningRank> running_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmae::testing

#endif  // VMAE_TESTS_TESTING_FAKE_AGENT_H_
