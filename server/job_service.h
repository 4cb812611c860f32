// JobService handlers: authenticate, call the Coordinator, convert status.
// Unary calls use the sync API (they may wait briefly on SQLite);
// WatchJob uses the callback API so watchers cost no threads.
#ifndef VMAE_SERVER_JOB_SERVICE_H_
#define VMAE_SERVER_JOB_SERVICE_H_

#include "server/auth.h"
#include "server/coordinator.h"
#include "vmae/v1/job_service.grpc.pb.h"

namespace vmae::server {

class JobServiceImpl final
    : public vmae::v1::JobService::WithCallbackMethod_WatchJob<vmae::v1::JobService::Service> {
 public:
  JobServiceImpl(Coordinator* coordinator, const Authenticator* auth)
      : coordinator_(coordinator), auth_(auth) {}

  grpc::Status SubmitJob(grpc::ServerContext* ctx, const vmae::v1::SubmitJobRequest* req,
                         vmae::v1::Job* resp) override;
  grpc::Status GetJob(grpc::ServerContext* ctx, const vmae::v1::GetJobRequest* req,
                      vmae::v1::GetJobResponse* resp) override;
  grpc::Status ListJobs(grpc::ServerContext* ctx, const vmae::v1::ListJobsRequest* req,
                        vmae::v1::ListJobsResponse* resp) override;
  grpc::Status CancelJob(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                         vmae::v1::Job* resp) override;
  grpc::Status PauseJob(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                        vmae::v1::Job* resp) override;
  grpc::Status ResumeJob(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                         vmae::v1::Job* resp) override;
  grpc::ServerWriteReactor<vmae::v1::JobEvent>* WatchJob(
      grpc::CallbackServerContext* ctx, const vmae::v1::WatchJobRequest* req) override;
  grpc::Status GetMetrics(grpc::ServerContext* ctx, const vmae::v1::GetMetricsRequest* req,
                          vmae::v1::GetMetricsResponse* resp) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* ctx, const vmae::v1::JobRef* req,
                               vmae::v1::ListCheckpointsResponse* resp) override;
  grpc::Status DownloadCheckpoint(grpc::ServerContext* ctx,
                                  const vmae::v1::DownloadCheckpointRequest* req,
                                  grpc::ServerWriter<vmae::v1::DownloadChunk>* writer) override;
  grpc::Status StreamLogs(grpc::ServerContext* ctx, const vmae::v1::StreamLogsRequest* req,
                          grpc::ServerWriter<vmae::v1::LogLine>* writer) override;
  grpc::Status ListWorkers(grpc::ServerContext* ctx, const vmae::v1::ListWorkersRequest* req,
                           vmae::v1::ListWorkersResponse* resp) override;

 private:
  Coordinator* const coordinator_;
  const Authenticator* const auth_;
};

// Streams a checkpoint's files: a header per file, then 1 MiB chunks.
// Shared by DownloadCheckpoint and FetchCheckpoint.
grpc::Status StreamCheckpointFiles(const std::vector<Coordinator::FileToSend>& files,
                                   grpc::ServerContext* ctx,
                                   grpc::ServerWriter<vmae::v1::DownloadChunk>* writer);

}  // namespace vmae::server

#endif  // VMAE_SERVER_JOB_SERVICE_H_
