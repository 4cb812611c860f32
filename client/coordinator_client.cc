#include "client/coordinator_client.h"

#include "grpc/health/v1/health.grpc.pb.h"

#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace vmae::client {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the CA file ", path, "; check --tls-ca"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Reads a server stream into `handle` until it ends or fails, or `handle`
// returns false (stop quietly: cancel, report OK) or an error (cancel,
// report that error).
template <typename Message, typename Reader, typename Handler>
absl::Status Drain(grpc::ClientContext* context, Reader* reader, Handler&& handle) {
  Message message;
  while (reader->Read(&message)) {
    absl::StatusOr<bool> go_on = handle(message);
    if (!go_on.ok() || !*go_on) {
      context->TryCancel();
      while (reader->Read(&message)) {
      }
      reader->Finish();  // CANCELLED, by us.
      return go_on.status();
    }
  }
  return FromGrpcStatus(reader->Finish());
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Create(
    const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Notice a dead coordinator during a long watch. Five minutes is what a
  // gRPC server accepts by default without calling the pings abusive.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 5 * 60 * 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.tls_ca_file.empty()) {
    auto pem = ReadWholeFile(options.tls_ca_file);
    if (!pem.ok()) {
      return pem.status();
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *std::move(pem);
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  auto channel = grpc::CreateCustomChannel(options.server, credentials, args);
  return std::make_unique<CoordinatorClient>(std::move(channel), options);
}

CoordinatorClient::CoordinatorClient(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::JobService::NewStub(channel_)),
      options_(std::move(options)) {}

void CoordinatorClient::Prepare(grpc::ClientContext* context, bool unary) const {
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
  if (unary) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + options_.timeout));
  }
}

template <typename Response, typename Call>
absl::StatusOr<Response> CoordinatorClient::Unary(Call call) const {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/true);
  Response response;
  grpc::Status status = call(&context, &response);
  if (!status.ok()) {
    return FromGrpcStatus(status);
  }
  return response;
}

absl::StatusOr<v1::Job> CoordinatorClient::SubmitJob(const v1::SubmitJobRequest& request) {
  absl::Duration backoff = options_.retry_backoff;
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext context;
    Prepare(&context, /*unary=*/true);
    v1::Job job;
    grpc::Status status = stub_->SubmitJob(&context, request, &job);
    if (status.ok()) {
      return job;
    }
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        attempt >= options_.submit_retries) {
      return FromGrpcStatus(status);
    }
    absl::SleepFor(backoff);
    backoff *= 2;
  }
}

absl::StatusOr<v1::GetJobResponse> CoordinatorClient::GetJob(const std::string& job_id,
                                                             bool include_history) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  request.set_include_history(include_history);
  return Unary<v1::GetJobResponse>([&](grpc::ClientContext* context, v1::GetJobResponse* response) {
    return stub_->GetJob(context, request, response);
  });
}

absl::StatusOr<v1::ListJobsResponse> CoordinatorClient::ListJobs(
    const v1::ListJobsRequest& request) {
  return Unary<v1::ListJobsResponse>(
      [&](grpc::ClientContext* context, v1::ListJobsResponse* response) {
        return stub_->ListJobs(context, request, response);
      });
}

absl::StatusOr<v1::Job> CoordinatorClient::CancelJob(const v1::JobRef& request) {
  return Unary<v1::Job>([&](grpc::ClientContext* context, v1::Job* response) {
    return stub_->CancelJob(context, request, response);
  });
}

absl::StatusOr<v1::Job> CoordinatorClient::PauseJob(const v1::JobRef& request) {
  return Unary<v1::Job>([&](grpc::ClientContext* context, v1::Job* response) {
    return stub_->PauseJob(context, request, response);
  });
}

absl::StatusOr<v1::Job> CoordinatorClient::ResumeJob(const v1::JobRef& request) {
  return Unary<v1::Job>([&](grpc::ClientContext* context, v1::Job* response) {
    return stub_->ResumeJob(context, request, response);
  });
}

absl::StatusOr<v1::GetMetricsResponse> CoordinatorClient::GetMetrics(
    const v1::GetMetricsRequest& request) {
  return Unary<v1::GetMetricsResponse>(
      [&](grpc::ClientContext* context, v1::GetMetricsResponse* response) {
        return stub_->GetMetrics(context, request, response);
      });
}

absl::StatusOr<v1::ListCheckpointsResponse> CoordinatorClient::ListCheckpoints(
    const std::string& job_id) {
  v1::JobRef request;
  request.set_job_id(job_id);
  return Unary<v1::ListCheckpointsResponse>(
      [&](grpc::ClientContext* context, v1::ListCheckpointsResponse* response) {
        return stub_->ListCheckpoints(context, request, response);
      });
}

absl::StatusOr<v1::ListWorkersResponse> CoordinatorClient::ListWorkers() {
  v1::ListWorkersRequest request;
  return Unary<v1::ListWorkersResponse>(
      [&](grpc::ClientContext* context, v1::ListWorkersResponse* response) {
        return stub_->ListWorkers(context, request, response);
      });
}

absl::Status CoordinatorClient::WatchJob(const v1::WatchJobRequest& request,
                                         const std::function<bool(const v1::JobEvent&)>& on_event) {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/false);
  auto reader = stub_->WatchJob(&context, request);
  return Drain<v1::JobEvent>(
      &context, reader.get(),
      [&on_event](const v1::JobEvent& event) -> absl::StatusOr<bool> { return on_event(event); });
}

absl::Status CoordinatorClient::StreamLogs(const v1::StreamLogsRequest& request,
                                           const std::function<bool(const v1::LogLine&)>& on_line) {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/false);
  auto reader = stub_->StreamLogs(&context, request);
  return Drain<v1::LogLine>(
      &context, reader.get(),
      [&on_line](const v1::LogLine& line) -> absl::StatusOr<bool> { return on_line(line); });
}

absl::Status CoordinatorClient::DownloadCheckpoint(
    const v1::DownloadCheckpointRequest& request,
    const std::function<absl::Status(const v1::DownloadChunk&)>& on_chunk) {
  grpc::ClientContext context;
  Prepare(&context, /*unary=*/false);
  auto reader = stub_->DownloadCheckpoint(&context, request);
  return Drain<v1::DownloadChunk>(
      &context, reader.get(), [&on_chunk](const v1::DownloadChunk& chunk) -> absl::StatusOr<bool> {
        absl::Status status = on_chunk(chunk);
        if (!status.ok()) {
          return status;
        }
        return true;
      });
}

std::string RandomIdempotencyKey() {
  std::random_device device;
  std::string key = "vmaectl-";
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(&key, absl::StrFormat("%08x", static_cast<uint32_t>(device())));
  }
  return key;
}

absl::Status CoordinatorClient::CheckHealth() {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::health::v1::HealthCheckRequest request;
  auto response = Unary<grpc::health::v1::HealthCheckResponse>(
      [&](grpc::ClientContext* context, grpc::health::v1::HealthCheckResponse* out) {
        return health->Check(context, request, out);
      });
  if (!response.ok()) return response.status();
  if (response->status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(
        "the coordinator reports ",
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response->status())));
  }
  return absl::OkStatus();
}

}  // namespace vmae::client
