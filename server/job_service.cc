#include "server/job_service.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"

namespace vmae::server {

namespace {

constexpr size_t kChunk = 1 << 20;  // 1 MiB, below gRPC's 4 MiB default limit

// Runs `fn` for an authenticated user and converts its status.
template <typename Fn>
grpc::Status AsUser(const Authenticator* auth, grpc::ServerContext* ctx, Fn fn) {
  auto who = auth->AuthenticateUser(*ctx);
  if (!who.ok()) return ToGrpcStatus(who.status());
  return ToGrpcStatus(fn(*who));
}

template <typename T, typename Out>
absl::Status Assign(absl::StatusOr<T> result, Out* out) {
  if (!result.ok()) return result.status();
  *out = std::move(*result);
  return absl::OkStatus();
}

}  // namespace

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* ctx,
                                       const vmae::v1::SubmitJobRequest* req, vmae::v1::Job* resp) {
  return AsUser(auth_, ctx, [&](const Principal& who) {
    return Assign(coordinator_->SubmitJob(who, *req), resp);
  });
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* ctx, const vmae::v1::GetJobRequest* req,
                                    vmae::v1::GetJobResponse* resp) {
  return AsUser(auth_, ctx,
                [&](const Principal& who) { return Assign(coordinator_->GetJob(who, *req), resp); });
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* ctx, const vmae::v1::ListJobsRequest* req,
                                      vmae::v1::ListJobsResponse* resp) {
  return AsUser(auth_, ctx,
                [&](const Principal& who) { return Assign(coordinator_->ListJobs(who, *req), resp); });
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                                       vmae::v1::Job* resp) {
  return AsUser(auth_, ctx,
                [&](const Principal& who) { return Assign(coordinator_->CancelJob(who, *req), resp); });
}

grpc::Status JobServiceImpl::PauseJob(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                                      vmae::v1::Job* resp) {
  return AsUser(auth_, ctx,
                [&](const Principal& who) { return Assign(coordinator_->PauseJob(who, *req), resp); });
}

grpc::Status JobServiceImpl::ResumeJob(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                                       vmae::v1::Job* resp) {
  return AsUser(auth_, ctx,
                [&](const Principal& who) { return Assign(coordinator_->ResumeJob(who, *req), resp); });
}

grpc::ServerWriteReactor<vmae::v1::JobEvent>* JobServiceImpl::WatchJob(
    grpc::CallbackServerContext* ctx, const vmae::v1::WatchJobRequest* req) {
  absl::Status status;
  auto who = auth_->AuthenticateUser(*ctx);
  if (!who.ok()) status = who.status();
  absl::StatusOr<vmae::v1::Job> snapshot = absl::UnknownError("");
  if (status.ok()) {
    if (req->after_seq() < 0) {
      status = absl::InvalidArgumentError("after_seq must be >= 0");
    } else {
      snapshot = coordinator_->Snapshot(req->job_id());
      if (!snapshot.ok()) status = snapshot.status();
    }
  }
  if (!status.ok()) {
    // A reactor that only reports the error.
    class Failed : public grpc::ServerWriteReactor<vmae::v1::JobEvent> {
     public:
      explicit Failed(grpc::Status s) { Finish(std::move(s)); }
      void OnDone() override { delete this; }
    };
    return new Failed(ToGrpcStatus(status));
  }
  return coordinator_->hub()->Start(ctx, *req, *snapshot);
}

grpc::Status JobServiceImpl::GetMetrics(grpc::ServerContext* ctx,
                                        const vmae::v1::GetMetricsRequest* req,
                                        vmae::v1::GetMetricsResponse* resp) {
  return AsUser(auth_, ctx,
                [&](const Principal& who) { return Assign(coordinator_->GetMetrics(who, *req), resp); });
}

grpc::Status JobServiceImpl::ListCheckpoints(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                                             vmae::v1::ListCheckpointsResponse* resp) {
  return AsUser(auth_, ctx, [&](const Principal& who) {
    return Assign(coordinator_->ListCheckpoints(who, req->job_id()), resp);
  });
}

grpc::Status StreamCheckpointFiles(const std::vector<Coordinator::FileToSend>& files,
                                   grpc::ServerContext* ctx,
                                   grpc::ServerWriter<vmae::v1::DownloadChunk>* writer) {
  std::vector<char> buf(kChunk);
  for (const auto& [f, path] : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          absl::StrCat("checkpoint file ", f.name(), " is missing on the coordinator"));
    }
    vmae::v1::DownloadChunk header;
    *header.mutable_file() = f;
    if (!writer->Write(header)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    int64_t sent = 0;
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      std::streamsize n = in.gcount();
      if (n <= 0) break;
      if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
      vmae::v1::DownloadChunk chunk;
      chunk.set_data(buf.data(), static_cast<size_t>(n));
      if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      sent += n;
    }
    if (sent != f.size()) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          absl::StrCat("checkpoint file ", f.name(), " has ", sent, " bytes, expected ",
                                       f.size()));
    }
  }
  return grpc::Status::OK;
}

grpc::Status JobServiceImpl::DownloadCheckpoint(grpc::ServerContext* ctx,
                                                const vmae::v1::DownloadCheckpointRequest* req,
                                                grpc::ServerWriter<vmae::v1::DownloadChunk>* writer) {
  auto who = auth_->AuthenticateUser(*ctx);
  if (!who.ok()) return ToGrpcStatus(who.status());
  auto job = coordinator_->Snapshot(req->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  auto info = coordinator_->ResolveCheckpoint(req->job_id(), req->checkpoint());
  if (!info.ok()) return ToGrpcStatus(info.status());
  auto files = coordinator_->FilesForDownload(*info, req->format());
  if (!files.ok()) return ToGrpcStatus(files.status());
  return StreamCheckpointFiles(*files, ctx, writer);
}

grpc::Status JobServiceImpl::StreamLogs(grpc::ServerContext* ctx,
                                        const vmae::v1::StreamLogsRequest* req,
                                        grpc::ServerWriter<vmae::v1::LogLine>* writer) {
  auto who = auth_->AuthenticateUser(*ctx);
  if (!who.ok()) return ToGrpcStatus(who.status());
  int64_t after = req->after_seq();
  while (true) {
    auto lines = coordinator_->ReadLogs(*req, after, 1000);
    if (!lines.ok()) return ToGrpcStatus(lines.status());
    for (const auto& line : *lines) {
      if (!writer->Write(line)) return grpc::Status::CANCELLED;
      after = line.seq();
    }
    if (lines->size() >= 1000) continue;
    // Without follow, or once the job has ended and everything is sent, stop.
    if (!req->follow() || coordinator_->IsJobTerminal(req->job_id())) {
      auto rest = coordinator_->ReadLogs(*req, after, 1000);
      if (rest.ok() && !rest->empty()) continue;
      return grpc::Status::OK;
    }
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    absl::SleepFor(absl::Milliseconds(200));
  }
}

grpc::Status JobServiceImpl::ListWorkers(grpc::ServerContext* ctx,
                                         const vmae::v1::ListWorkersRequest* req,
                                         vmae::v1::ListWorkersResponse* resp) {
  return AsUser(auth_, ctx, [&](const Principal& who) {
    *resp = coordinator_->ListWorkers();
    return absl::OkStatus();
  });
}

}  // namespace vmae::server
