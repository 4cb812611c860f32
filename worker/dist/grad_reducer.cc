#include "worker/dist/grad_reducer.h"

#include <torch/torch.h>

#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace vmae::dist {

GradReducer::GradReducer(ProcessGroup* group, std::vector<at::Tensor> params, int64_t bucket_bytes)
    : group_(group), single_rank_(group->world_size() == 1) {
  BuildBuckets(params, bucket_bytes);
  if (single_rank_) return;  // nothing to average: no hooks, no copies
  for (size_t i = 0; i < slots_.size(); ++i) {
    const int slot = static_cast<int>(i);
    at::Tensor& param = slots_[i].param;
    // A void hook leaves the incoming gradient as it is; autograd then
    // accumulates it into .grad as usual and Finish() overwrites .grad.
    const unsigned handle =
        param.register_hook([this, slot](const at::Tensor& grad) { OnGrad(slot, grad); });
    hooks_.emplace_back(param, handle);
  }
}

GradReducer::~GradReducer() {
  for (auto& [param, handle] : hooks_) {
    param.remove_hook(handle);
  }
}

void GradReducer::BuildBuckets(const std::vector<at::Tensor>& params, int64_t bucket_bytes) {
  int64_t open_bytes = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    const at::Tensor& p = *it;
    if (!p.requires_grad()) {
      continue;
    }
    bool open_new = buckets_.empty();
    if (!open_new) {
      const at::Tensor& first = slots_[buckets_.back().slots.front()].param;
      open_new = open_bytes >= bucket_bytes || first.scalar_type() != p.scalar_type() ||
                 first.device() != p.device();
    }
    if (open_new) {
      buckets_.emplace_back();
      open_bytes = 0;
    }
    Slot slot;
    slot.param = p;
    slot.bucket = static_cast<int>(buckets_.size()) - 1;
    slot.offset = 0;
    for (int s : buckets_.back().slots) {
      slot.offset += slots_[s].param.numel();
    }
    open_bytes += p.numel() * static_cast<int64_t>(p.element_size());
    buckets_.back().slots.push_back(static_cast<int>(slots_.size()));
    slots_.push_back(std::move(slot));
  }
  if (single_rank_) return;  // no flat buffers needed
  for (Bucket& b : buckets_) {
    const Slot& last = slots_[b.slots.back()];
    const at::Tensor& like = last.param;
    b.flat = torch::zeros({last.offset + like.numel()},
                          torch::TensorOptions().dtype(like.scalar_type()).device(like.device()));
  }
}

at::Tensor GradReducer::SlotView(const Slot& slot) const {
  return buckets_[slot.bucket]
      .flat.narrow(0, slot.offset, slot.param.numel())
      .view(slot.param.sizes());
}

void GradReducer::Arm() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Slot& s : slots_) {
    s.ready = false;
  }
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.slots.size());
    b.work.reset();
  }
  next_to_start_ = 0;
  hook_error_ = absl::OkStatus();
  armed_ = true;
}

void GradReducer::OnGrad(int index, const at::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;  // an accumulating micro-batch: local only
  Slot& slot = slots_[index];
  if (slot.ready) {
    // A second gradient for the same parameter in one armed step (two
    // backward passes, or retain_graph): its bucket may already be in flight.
    if (hook_error_.ok()) {
      hook_error_ = absl::FailedPreconditionError(
          absl::StrCat("parameter ", index,
                       " (reverse order) got a second gradient while armed; call "
                       "Arm() only before the single backward of the last micro-batch"));
    }
    return;
  }
  try {
    at::NoGradGuard no_grad;
    // What autograd is about to leave in .grad: the earlier micro-batches'
    // sum plus this contribution.
    at::Tensor view = SlotView(slot);
    const at::Tensor& held = slot.param.grad();
    if (held.defined() && grad.defined()) {
      at::add_out(view, held, grad);
    } else if (grad.defined()) {
      view.copy_(grad);
    } else if (held.defined()) {
      view.copy_(held);
    } else {
      view.zero_();
    }
  } catch (const std::exception& e) {
    // No exception may leave a hook into another rank's lock-step; report it
    // from Finish() (the bucket is still all-reduced so peers do not hang).
    if (hook_error_.ok()) {
      hook_error_ = absl::InternalError(absl::StrCat("copying the gradient of parameter ", index,
                                                     " into its bucket failed: ", e.what()));
    }
  }
  slot.ready = true;
  --buckets_[slot.bucket].pending;
  if (overlap_) {
    StartCompleteBuckets();
  }
}

void GradReducer::StartCompleteBuckets() {
  while (next_to_start_ < static_cast<int>(buckets_.size()) &&
         buckets_[next_to_start_].pending == 0) {
    Bucket& b = buckets_[next_to_start_];
    b.work = group_->StartAllReduceSum(b.flat);
    ++next_to_start_;
  }
}

absl::Status GradReducer::FinishSingleRank() {
  // The average over one rank is the local gradient; only make .grad
  // defined everywhere, as the multi-rank path does.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!armed_) {
      return absl::FailedPreconditionError(
          "GradReducer::Finish() without Arm(); call Arm() before the last backward of a step");
    }
    armed_ = false;
  }
  at::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    if (!s.param.grad().defined()) {
      s.param.mutable_grad() = torch::zeros_like(s.param);
    }
  }
  last_wait_seconds_ = 0.0;
  last_started_early_ = 0;
  return absl::OkStatus();
}

absl::Status GradReducer::Finish() {
  if (single_rank_) {
    return FinishSingleRank();
  }
  at::NoGradGuard no_grad;
  absl::Status first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!armed_) {
      return absl::FailedPreconditionError(
          "GradReducer::Finish() without Arm(); call Arm() before the last backward of a step");
    }
    armed_ = false;  // from here on hooks are no-ops
    last_started_early_ = next_to_start_;
    first = hook_error_;
    for (Slot& s : slots_) {
      if (s.ready) {
        continue;
      }
      // Not reached by this backward (unused on this rank, or no grad):
      // contributes what earlier micro-batches left, else zeros.
      at::Tensor view = SlotView(s);
      if (s.param.grad().defined()) {
        view.copy_(s.param.grad());
      } else {
        view.zero_();
      }
      s.ready = true;
      --buckets_[s.bucket].pending;
    }
    StartCompleteBuckets();  // the rest, in bucket order
  }
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& b : buckets_) {
    absl::Status s = b.work->Wait();
    b.work.reset();
    if (first.ok() && !s.ok()) {
      first = s;
    }
  }
  last_wait_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!first.ok()) {
    return first;
  }
  for (Bucket& b : buckets_) {
    b.flat.div_(group_->world_size());
  }
  for (Slot& s : slots_) {
    at::Tensor average = SlotView(s);
    if (s.param.grad().defined()) {
      s.param.mutable_grad().copy_(average);
    } else {
      s.param.mutable_grad() = average.clone();
    }
  }
  return absl::OkStatus();
}

}  // namespace vmae::dist
