// CoordinatorClient: vmaectl's wrapper around the generated
// vmae::v1::JobService::Stub. Every call carries
// "authorization: Bearer <token>" metadata (when a token is set) and a
// deadline (unary calls); results come back as absl::StatusOr with the
// server's code and message untouched, so callers decide what to tell the
// user. SubmitJob retries UNAVAILABLE with the caller's idempotency key.
//
// Thread-safe: the stub and channel are; each call has its own context.
#ifndef VMAE_CLIENT_COORDINATOR_CLIENT_H_
#define VMAE_CLIENT_COORDINATOR_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "vmae/v1/job_service.grpc.pb.h"

namespace vmae::client {

// Largest message either way; chunks are 1 MiB and gRPC's default is 4 MiB.
inline constexpr int kMaxMessageBytes = 8 * 1024 * 1024;

struct ClientOptions {
  // host:port of the coordinator. Default: 127.0.0.1:7070.
  std::string server = "127.0.0.1:7070";
  // Bearer token; nothing is sent when empty.
  std::string token;
  // PEM file with the CA that signed the coordinator's certificate; TLS is
  // used when set, plaintext otherwise.
  std::string tls_ca_file;
  // Deadline of each unary call. Default: 30 s.
  absl::Duration timeout = absl::Seconds(30);
  // SubmitJob: retries after UNAVAILABLE (same idempotency key), and the
  // first pause, doubled each time. Default: 3 retries from 500 ms.
  int submit_retries = 3;
  absl::Duration retry_backoff = absl::Milliseconds(500);
};

class CoordinatorClient {
 public:
  // Builds the channel (TLS when options.tls_ca_file is set). Fails only when
  // the CA file cannot be read; the server is not contacted.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Create(const ClientOptions& options);
  // Over an existing channel (tests).
  CoordinatorClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  const ClientOptions& options() const { return options_; }

  // Unary calls. SubmitJob retries UNAVAILABLE up to options.submit_retries
  // times with backoff, sending the same request (and so the same
  // idempotency key) each time.
  absl::StatusOr<v1::Job> SubmitJob(const v1::SubmitJobRequest& request);
  // With include_history the response lists the job's state changes.
  absl::StatusOr<v1::GetJobResponse> GetJob(const std::string& job_id,
                                            bool include_history = false);
  absl::StatusOr<v1::ListJobsResponse> ListJobs(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> CancelJob(const v1::JobRef& request);
  absl::StatusOr<v1::Job> PauseJob(const v1::JobRef& request);
  absl::StatusOr<v1::Job> ResumeJob(const v1::JobRef& request);
  absl::StatusOr<v1::GetMetricsResponse> GetMetrics(const v1::GetMetricsRequest& request);
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpoints(const std::string& job_id);
  absl::StatusOr<v1::ListWorkersResponse> ListWorkers();
  // The standard gRPC health check of the whole server: OK when SERVING.
  absl::Status CheckHealth();

  // Server streams without a deadline. Each message goes to the callback;
  // returning false cancels the stream, and the call then returns OK.
  // Otherwise the call returns the stream's final status (OK when the server
  // ended it).
  absl::Status WatchJob(const v1::WatchJobRequest& request,
                        const std::function<bool(const v1::JobEvent&)>& on_event);
  absl::Status StreamLogs(const v1::StreamLogsRequest& request,
                          const std::function<bool(const v1::LogLine&)>& on_line);
  // A callback error cancels the stream and is returned as is.
  absl::Status DownloadCheckpoint(
      const v1::DownloadCheckpointRequest& request,
      const std::function<absl::Status(const v1::DownloadChunk&)>& on_chunk);

 private:
  // Token metadata, plus the unary deadline when `unary`.
  void Prepare(grpc::ClientContext* context, bool unary) const;
  // One unary call: call(context, &response) with a prepared context.
  template <typename Response, typename Call>
  absl::StatusOr<Response> Unary(Call call) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> stub_;
  ClientOptions options_;
};

// A random idempotency key ("vmaectl-" + 32 hex digits) for one invocation.
std::string RandomIdempotencyKey();

}  // namespace vmae::client

#endif  // VMAE_CLIENT_COORDINATOR_CLIENT_H_
