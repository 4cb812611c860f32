// The trainer's process group: rendezvous through LibTorch's c10d::TCPStore
// hosted by rank 0, then Gloo (CPU) or NCCL (GPU, only when compiled with a
// CUDA LibTorch, VMAE_WITH_NCCL) collectives, every one bounded by a
// timeout and reported as absl::Status (c10d throws; nothing escapes here).
//
// Thread-safety: collectives may be started from any thread (the grad
// reducer starts them from autograd's thread), but every rank must issue
// them in the same order; the caller guarantees that. Create and destroy on
// one thread. c10d headers stay out of this header (pimpl) so the trainer's
// sources compile without them.
#ifndef VMAE_WORKER_DIST_PROCESS_GROUP_H_
#define VMAE_WORKER_DIST_PROCESS_GROUP_H_

#include <ATen/core/Tensor.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmae::dist {

struct GroupOptions {
  // This process's rank in [0, world_size). Default: 0.
  int rank = 0;
  // Number of ranks. 1 needs no network at all. Default: 1.
  int world_size = 1;
  // Rank 0: the address its store listens on ("0.0.0.0" = all interfaces).
  // Others: where rank 0's store is. Default: "127.0.0.1".
  std::string store_host = "127.0.0.1";
  // Rank 0: 0 picks an ephemeral port (reported through on_listening).
  // Others: required. Default: 0.
  int store_port = 0;
  // Bounds the rendezvous and every collective. Default: 5 minutes.
  std::chrono::milliseconds timeout{300000};
  // NCCL instead of Gloo (only when compiled with VMAE_WITH_NCCL). Default: false.
  bool cuda = false;
  // The CUDA device this rank uses with NCCL. Default: 0.
  int cuda_device = 0;
};

// Whether this build has the NCCL backend (a CUDA LibTorch with c10d's
// ProcessGroupNCCL; see worker/dist/CMakeLists.txt).
bool NcclCompiledIn();

class ProcessGroup {
 public:
  // Rank 0 starts the TCPStore server and calls on_listening(port) before it
  // waits for the other ranks (the trainer prints the port so the agent can
  // publish it); other ranks connect, retrying until the timeout. Then the
  // Gloo (or NCCL) group is built. Errors: UnavailableError (cannot listen,
  // connection lost, backend failed) or DeadlineExceededError (a rank did not
  // show up within the timeout), naming host:port and the rank;
  // InvalidArgumentError for bad options; FailedPreconditionError for cuda
  // without NCCL compiled in.
  static absl::StatusOr<std::unique_ptr<ProcessGroup>> Create(
      const GroupOptions& options, const std::function<void(int port)>& on_listening);

  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int world_size() const;
  // The store's port (rank 0: the one it listens on). 0 for world size 1.
  int store_port() const;

  // Copies rank `root`'s tensors into every rank's tensors, in place. All
  // ranks pass the same shapes and dtypes in the same order.
  absl::Status Broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // Element-wise sum over ranks of each tensor, in place.
  absl::Status AllReduceSum(std::vector<at::Tensor>& tensors);
  // Convenience for stop flags, counts and loss sums (float64).
  absl::StatusOr<std::vector<double>> AllReduceSum(const std::vector<double>& values);
  absl::StatusOr<std::vector<double>> AllReduceMax(const std::vector<double>& values);
  absl::Status Barrier();

  // An all-reduce in flight. Wait() returns its outcome: OK, DeadlineExceeded
  // past the group's timeout, Unavailable when a peer is gone. Call Wait()
  // before the tensor is read or destroyed, and before the group is.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual absl::Status Wait() = 0;
  };
  // Starts an all-reduce (sum) of one contiguous tensor in place and returns
  // at once (the reducer overlaps it with the rest of the backward).
  std::unique_ptr<Pending> StartAllReduceSum(at::Tensor flat);

 private:
  struct Impl;
  explicit ProcessGroup(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace vmae::dist

#endif  // VMAE_WORKER_DIST_PROCESS_GROUP_H_
