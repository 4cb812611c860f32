// WatchHub: fans job events out to WatchJob streams.
//
// Each WatchJob call gets a WatchReactor (gRPC callback API), so a thousand
// watchers cost a thousand small objects, not a thousand threads. A reactor
// first sends a snapshot of the job, then the stored backlog after the
// client's after_seq, then live events as the coordinator publishes them.
// One write is in flight at a time; the next starts from OnWriteDone. Live
// events queue per reactor up to a bound; a slow reader that overflows it
// drops its queue and re-reads from the store (which holds every event,
// flushed or buffered), so memory stays bounded and nothing is lost.
//
// Thread-safe. Publish never blocks on the network or the disk.
#ifndef VMAE_SERVER_WATCH_HUB_H_
#define VMAE_SERVER_WATCH_HUB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "vmae/v1/job_service.pb.h"

namespace vmae::server {

class WatchReactor;

class WatchHub {
 public:
  // Reads stored events with seq > after_seq (at most limit), oldest first.
  using BacklogReader = std::function<absl::StatusOr<std::vector<vmae::v1::JobEvent>>(
      const std::string& job_id, int64_t after_seq, int limit, bool include_logs)>;

  explicit WatchHub(BacklogReader reader, size_t max_queue = 1024)
      : reader_(std::move(reader)), max_queue_(max_queue) {}
  ~WatchHub();

  // Starts a stream for one call; `snapshot` is the job as it is now.
  grpc::ServerWriteReactor<vmae::v1::JobEvent>* Start(grpc::CallbackServerContext* ctx,
                                                       const vmae::v1::WatchJobRequest& request,
                                                       const vmae::v1::Job& snapshot);

  // Delivers an event (already stored or buffered) to the job's watchers.
  void Publish(const vmae::v1::JobEvent& event);

  // Ends every stream (server shutdown).
  void CloseAll();

  int WatcherCount() const;

 private:
  friend class WatchReactor;
  void Register(const std::string& job_id, WatchReactor* r);
  void Unregister(const std::string& job_id, WatchReactor* r);

  BacklogReader reader_;
  const size_t max_queue_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::set<WatchReactor*>> watchers_ ABSL_GUARDED_BY(mu_);
};

bool IsTerminal(vmae::v1::JobState state);

}  // namespace vmae::server

#endif  // VMAE_SERVER_WATCH_HUB_H_
