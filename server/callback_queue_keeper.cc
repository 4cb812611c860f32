#include "server/callback_queue_keeper.h"

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace vmae::server {

CallbackQueueKeeper::CallbackQueueKeeper(grpc::Server* server) {
  std::shared_ptr<grpc::Channel> channel = server->InProcessChannel(grpc::ChannelArguments());
  thread_ = std::thread([this, channel] {
    auto stub = grpc::health::v1::Health::NewStub(channel);
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(400))) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::health::v1::HealthCheckRequest req;
      grpc::health::v1::HealthCheckResponse resp;
      absl::Notification done;
      // The callback API: its completion lands on the queue we keep busy.
      stub->async()->Check(&ctx, &req, &resp, [&done](grpc::Status) { done.Notify(); });
      done.WaitForNotification();
    }
  });
}

CallbackQueueKeeper::~CallbackQueueKeeper() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace vmae::server
