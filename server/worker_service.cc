#include "server/worker_service.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "server/job_service.h"

namespace vmae::server {

// Every WorkerService call needs the agents' join token.
#define VMAE_AUTH_AGENT(ctx)                              \
  do {                                                    \
    auto who_ = auth_->AuthenticateAgent(*(ctx));         \
    if (!who_.ok()) return ToGrpcStatus(who_.status());   \
  } while (0)

grpc::Status WorkerServiceImpl::Register(grpc::ServerContext* ctx,
                                         const vmae::v1::RegisterRequest* req,
                                         vmae::v1::RegisterResponse* resp) {
  VMAE_AUTH_AGENT(ctx);
  auto r = coordinator_->Register(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Session(
    grpc::ServerContext* ctx,
    grpc::ServerReaderWriter<vmae::v1::CoordinatorMessage, vmae::v1::AgentMessage>* stream) {
  VMAE_AUTH_AGENT(ctx);
  vmae::v1::AgentMessage first;
  if (!stream->Read(&first)) return grpc::Status::CANCELLED;
  if (!first.has_hello()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first Session message must be SessionHello");
  }
  const std::string agent_id = first.hello().agent_id();
  const int64_t epoch = first.hello().epoch();
  auto session = coordinator_->OpenSession(first.hello());
  if (!session.ok()) return ToGrpcStatus(session.status());
  std::shared_ptr<Coordinator::AgentSession> s = *session;

  std::thread writer([&] {
    vmae::v1::CoordinatorMessage m;
    while (!ctx->IsCancelled()) {
      if (!s->Next(&m, absl::Milliseconds(500))) {
        if (s->closed()) break;
        continue;
      }
      if (!stream->Write(m)) break;
    }
  });
  grpc::Status result = grpc::Status::OK;
  vmae::v1::AgentMessage msg;
  while (stream->Read(&msg)) {
    absl::Status st = coordinator_->OnAgentMessage(agent_id, epoch, msg);
    if (!st.ok()) {
      result = ToGrpcStatus(st);
      break;
    }
    if (s->closed()) {
      result = grpc::Status(grpc::StatusCode::ABORTED, "session superseded; register again");
      break;
    }
  }
  coordinator_->CloseSession(agent_id, s);
  writer.join();
  return result;
}

grpc::Status WorkerServiceImpl::KvSet(grpc::ServerContext* ctx, const vmae::v1::KvSetRequest* req,
                                      vmae::v1::KvSetResponse* resp) {
  VMAE_AUTH_AGENT(ctx);
  return ToGrpcStatus(coordinator_->KvSet(*req));
}

grpc::Status WorkerServiceImpl::KvGet(grpc::ServerContext* ctx, const vmae::v1::KvGetRequest* req,
                                      vmae::v1::KvGetResponse* resp) {
  VMAE_AUTH_AGENT(ctx);
  auto v = coordinator_->KvGet(*req);
  if (!v.ok()) return ToGrpcStatus(v.status());
  resp->set_value(*v);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::BeginCheckpointUpload(
    grpc::ServerContext* ctx, const vmae::v1::BeginCheckpointUploadRequest* req,
    vmae::v1::UploadState* resp) {
  VMAE_AUTH_AGENT(ctx);
  auto r = coordinator_->BeginUpload(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::UploadCheckpoint(grpc::ServerContext* ctx,
                                                 grpc::ServerReader<vmae::v1::UploadChunk>* reader,
                                                 vmae::v1::UploadState* resp) {
  VMAE_AUTH_AGENT(ctx);
  vmae::v1::UploadChunk chunk;
  std::string upload_id;
  while (reader->Read(&chunk)) {
    if (upload_id.empty()) upload_id = chunk.upload_id();
    if (chunk.upload_id() != upload_id) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "one upload per UploadCheckpoint stream");
    }
    absl::Status s = coordinator_->UploadChunk(chunk);
    if (!s.ok()) return ToGrpcStatus(s);
  }
  if (upload_id.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no chunk received");
  }
  auto state = coordinator_->FinishUpload(upload_id);
  if (!state.ok()) return ToGrpcStatus(state.status());
  *resp = std::move(*state);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::FetchCheckpoint(grpc::ServerContext* ctx,
                                                const vmae::v1::FetchCheckpointRequest* req,
                                                grpc::ServerWriter<vmae::v1::DownloadChunk>* writer) {
  VMAE_AUTH_AGENT(ctx);
  auto info = coordinator_->CheckpointForFetch(req->checkpoint());
  if (!info.ok()) return ToGrpcStatus(info.status());
  auto files = coordinator_->FilesForDownload(*info, vmae::v1::CHECKPOINT_FORMAT_NATIVE);
  if (!files.ok()) return ToGrpcStatus(files.status());
  return StreamCheckpointFiles(*files, ctx, writer);
}

}  // namespace vmae::server
