// Gradient averaging for data parallelism, overlapped with the backward
// pass as PyTorch's DDP does it (LibTorch 1.13 has no C++ DDP).
//
// Parameters that require grad are packed, in REVERSE registration order
// (the order backward produces their gradients), into flat buckets of about
// bucket_bytes, one dtype and device per bucket; the layout is built once.
// During the armed backward (the last micro-batch of an optimizer step) a
// hook on each parameter writes the parameter's final gradient (what .grad
// already holds from earlier micro-batches + the incoming one) into its
// bucket; a bucket whose gradients are all in starts its all-reduce at once,
// while autograd goes on with earlier layers. Buckets start strictly in
// index order (a complete bucket waits for the ones before it), so every
// rank issues the same collectives in the same order even when ranks reach
// parameters in different orders or not at all. Finish() starts the rest,
// waits, divides by the world size and writes the averages into .grad.
//
// Gradient accumulation: earlier micro-batches accumulate locally without
// communication. Every rank must arm the same steps.
//
// Thread-safety: hooks run on autograd's thread(s); the bucket state they
// share with Arm()/Finish() is guarded by a mutex. Arm(), Finish() and the
// destructor are called from the training thread, never during a backward.
// World size 1: no hooks at all; Finish() only defines missing .grad.
#ifndef VMAE_WORKER_DIST_GRAD_REDUCER_H_
#define VMAE_WORKER_DIST_GRAD_REDUCER_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "worker/dist/process_group.h"

namespace vmae::dist {

// PyTorch DDP's default bucket size.
inline constexpr int64_t kDefaultBucketBytes = int64_t{25} << 20;

class GradReducer {
 public:
  // `params` in model.parameters() order; hooks go on those that require
  // grad. `group` must outlive the reducer. bucket_bytes <= 0 puts every
  // parameter in a bucket of its own.
  GradReducer(ProcessGroup* group, std::vector<at::Tensor> params,
              int64_t bucket_bytes = kDefaultBucketBytes);
  // Removes the hooks.
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Call before the backward of the LAST micro-batch of an optimizer step.
  void Arm();
  // Call after that backward: starts the buckets not yet started (a
  // parameter the backward did not reach contributes what its .grad holds,
  // zeros if undefined), waits for all, divides by the world size, writes the
  // averages into every parameter's .grad (defining it if needed), disarms.
  // Returns the first error: DeadlineExceeded when a collective timed out,
  // Unavailable when a peer left, FailedPrecondition without Arm(). On error
  // .grad holds this rank's local gradients; the group is then unusable
  // (stop the rank).
  absl::Status Finish();

  // Wall time the last Finish() spent waiting for all-reduces: the part of
  // the communication the backward did not hide.
  double last_wait_seconds() const { return last_wait_seconds_; }
  // Buckets whose all-reduce the last armed backward started before
  // Finish() (0 with overlap off).
  int last_buckets_started_early() const { return last_started_early_; }
  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // false: no all-reduce starts during the backward; Finish() starts them
  // all (to measure what the overlap saves). Same results either way.
  // Default: true. Not while armed.
  void set_overlap(bool overlap) { overlap_ = overlap; }
  bool overlap() const { return overlap_; }

 private:
  struct Slot {
    at::Tensor param;
    int bucket = 0;
    int64_t offset = 0;  // elements into the bucket's flat tensor
    bool ready = false;  // its gradient is in the bucket (armed backward)
  };
  struct Bucket {
    at::Tensor flat;
    std::vector<int> slots;
    int pending = 0;  // slots not yet ready in the armed backward
    std::unique_ptr<ProcessGroup::Pending> work;
  };

  void BuildBuckets(const std::vector<at::Tensor>& params, int64_t bucket_bytes);
  void OnGrad(int slot, const at::Tensor& grad);
  // Starts every bucket from next_to_start_ on that is complete, in order.
  void StartCompleteBuckets() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The slot's view in its bucket, shaped like the parameter.
  at::Tensor SlotView(const Slot& slot) const;
  absl::Status FinishSingleRank();

  ProcessGroup* const group_;
  const bool single_rank_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<at::Tensor, unsigned>> hooks_;  // (param, handle)

  std::mutex mu_;
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  int next_to_start_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status hook_error_ ABSL_GUARDED_BY(mu_);
  bool overlap_ = true;
  int last_started_early_ = 0;
  double last_wait_seconds_ = 0.0;
};

}  // namespace vmae::dist

#endif  // VMAE_WORKER_DIST_GRAD_REDUCER_H_
