// Keeps gRPC 1.51's callback completion queue from idling.
//
// The coordinator serves WatchJob with the callback API, so gRPC 1.51 runs
// a "callback alternative" completion queue polled by two threads. When such
// a thread sees no completion for 1 s it sleeps 100 ms, and every call that
// completes meanwhile waits: measured as a 100 ms stall of all clients every
// ~1.1 s (docs/benchmarks.md). A cheap in-process health check every 400 ms
// keeps a completion arriving on that queue. Newer gRPC (EventEngine
// callback queues) makes this unnecessary.
#ifndef VMAE_SERVER_CALLBACK_QUEUE_KEEPER_H_
#define VMAE_SERVER_CALLBACK_QUEUE_KEEPER_H_

#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "grpcpp/server.h"

namespace vmae::server {

class CallbackQueueKeeper {
 public:
  // Starts calling `server`'s health service through its in-process channel.
  explicit CallbackQueueKeeper(grpc::Server* server);
  // Stops and joins; call before the server shuts down.
  ~CallbackQueueKeeper();

 private:
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_CALLBACK_QUEUE_KEEPER_H_
