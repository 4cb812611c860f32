// WorkerService handlers (agents only). Session is a sync bidi stream: this
// handler's thread reads reports while a second thread writes the orders
// queued for the agent. Agents are few (one per node), so a thread pair each
// is cheap, and neither side ever blocks the other.
#ifndef VMAE_SERVER_WORKER_SERVICE_H_
#define VMAE_SERVER_WORKER_SERVICE_H_

#include "server/auth.h"
#include "server/coordinator.h"
#include "vmae/v1/worker_service.grpc.pb.h"

namespace vmae::server {

class WorkerServiceImpl final : public vmae::v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Coordinator* coordinator, const Authenticator* auth)
      : coordinator_(coordinator), auth_(auth) {}

  grpc::Status Register(grpc::ServerContext* ctx, const vmae::v1::RegisterRequest* req,
                        vmae::v1::RegisterResponse* resp) override;
  grpc::Status Session(
      grpc::ServerContext* ctx,
      grpc::ServerReaderWriter<vmae::v1::CoordinatorMessage, vmae::v1::AgentMessage>* stream) override;
  grpc::Status KvSet(grpc::ServerContext* ctx, const vmae::v1::KvSetRequest* req,
                     vmae::v1::KvSetResponse* resp) override;
  grpc::Status KvGet(grpc::ServerContext* ctx, const vmae::v1::KvGetRequest* req,
                     vmae::v1::KvGetResponse* resp) override;
  grpc::Status BeginCheckpointUpload(grpc::ServerContext* ctx,
                                     const vmae::v1::BeginCheckpointUploadRequest* req,
                                     vmae::v1::UploadState* resp) override;
  grpc::Status UploadCheckpoint(grpc::ServerContext* ctx,
                                grpc::ServerReader<vmae::v1::UploadChunk>* reader,
                                vmae::v1::UploadState* resp) override;
  grpc::Status FetchCheckpoint(grpc::ServerContext* ctx, const vmae::v1::FetchCheckpointRequest* req,
                               grpc::ServerWriter<vmae::v1::DownloadChunk>* writer) override;

 private:
  Coordinator* const coordinator_;
  const Authenticator* const auth_;
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_WORKER_SERVICE_H_
