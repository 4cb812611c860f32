// AdamW over the authors' parameter groups, the per-step schedule update,
// gradient clipping and gradient accumulation, as the authors' engines
// (engine_for_pretraining.py, engine_for_finetuning.py, utils.py) do them.
#ifndef VMAE_WORKER_TRAIN_OPTIMIZER_H_
#define VMAE_WORKER_TRAIN_OPTIMIZER_H_

#include <torch/optim/adamw.h>
#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/train/param_groups.h"

namespace vmae::train {

// AdamW hyperparameters shared by every group (the per-group lr and weight
// decay come from the groups and the schedule).
struct AdamWConfig {
  /// Default: 0.9 (both recipes).
  double beta1 = 0.9;
  /// Default: 0.999 (fine-tuning; the pre-training recipe uses 0.95).
  double beta2 = 0.999;
  /// Default: 1e-8 (--opt_eps).
  double eps = 1e-8;
};

// A torch::optim::AdamW with one LibTorch param group per ParamGroup, in the
// same order, plus what LibTorch's AdamWOptions cannot hold: each group's
// name and lr_scale (parallel vectors indexed like adamw().param_groups()).
// Every group's lr starts at 0: call ApplySchedule() before each step.
// Not thread-safe (like the optimizer it wraps). Movable, not copyable.
class GroupedAdamW {
 public:
  // InvalidArgument when there are no parameters, a group is empty, or a
  // hyperparameter is out of range (negative weight decay, beta not in
  // [0, 1), negative eps).
  static absl::StatusOr<GroupedAdamW> Create(const std::vector<ParamGroup>& groups,
                                             const AdamWConfig& config);

  torch::optim::AdamW& adamw() { return *adamw_; }
  const torch::optim::AdamW& adamw() const { return *adamw_; }

  size_t num_groups() const { return lr_scales_.size(); }
  const std::string& group_name(size_t group) const { return names_.at(group); }
  double lr_scale(size_t group) const { return lr_scales_.at(group); }
  // The group's current lr and weight decay (what the next step uses).
  double group_lr(size_t group) const;
  double group_weight_decay(size_t group) const;
  // Every parameter, group by group (for ClipGradNorm).
  std::vector<torch::Tensor> Parameters() const;

  // adamw().zero_grad() / adamw().step().
  void ZeroGrad() { adamw_->zero_grad(); }
  void Step() { adamw_->step(); }

 private:
  GroupedAdamW() = default;

  std::unique_ptr<torch::optim::AdamW> adamw_;
  std::vector<std::string> names_;
  std::vector<double> lr_scales_;
};

// The authors' per-step update, before the step (with accumulation, at the
// first micro-batch):
//   for group in optimizer.param_groups:
//     group["lr"] = lr * group["lr_scale"]
//     if group["weight_decay"] > 0: group["weight_decay"] = wd
// `lr` and `wd` are the scheduled values (TrainSchedule::LrAtSamples /
// WdAtSamples). Like the authors, it tests the group's current weight decay,
// so no_decay groups stay at 0 (and a group scheduled to exactly 0 would
// stay there).
void ApplySchedule(GroupedAdamW& optimizer, double lr, double wd);

// The 2-norm of all gradients together (parameters without a gradient are
// skipped; 0 when none has one), computed like torch.nn.utils.clip_grad_norm_
// in PyTorch 1.13: the norm of the stacked per-tensor norms, in the
// gradients' dtype. When max_norm > 0 it then scales every gradient by
// min(1, max_norm / (norm + 1e-6)) exactly as PyTorch does (so a non-finite
// norm zeroes or poisons the gradients; check the returned norm). max_norm
// <= 0 means no clipping (the authors' clip_grad=None, their pre-training
// default; their get_grad_norm_ returns the same norm). Returns the norm
// before clipping.
double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm);

// Gradient accumulation: `accum_steps` micro-batches per optimizer step, each
// loss divided by accum_steps before backward() (the authors'
// `loss /= update_freq`), so the accumulated gradient is that of the mean
// loss over the global batch. Usage per micro-batch:
//   if (acc.AtStepStart()) ApplySchedule(opt, schedule.LrAtSamples(seen), ...);
//   acc.ScaleLoss(loss).backward();
//   if (acc.EndMicroBatch()) { ClipGradNorm(...); opt.Step(); opt.ZeroGrad(); }
// Not thread-safe.
class GradAccumulator {
 public:
  // accum_steps must be >= 1 (TORCH_CHECK).
  explicit GradAccumulator(int64_t accum_steps);

  int64_t accum_steps() const { return accum_steps_; }
  // Micro-batches already done in the current optimizer step.
  int64_t micro_batch() const { return micro_batch_; }
  // True when the next micro-batch is the first of an optimizer step.
  bool AtStepStart() const { return micro_batch_ == 0; }

  // loss / accum_steps (a tensor division, as the authors' in-place `/=`).
  torch::Tensor ScaleLoss(const torch::Tensor& loss) const;
  // Counts a micro-batch whose backward() ran. True when it completes an
  // optimizer step (every accum_steps-th call): step and zero the grads then.
  bool EndMicroBatch();
  // Drops a partly accumulated step (the caller zeroes the grads).
  void Reset() { micro_batch_ = 0; }

 private:
  int64_t accum_steps_;
  int64_t micro_batch_ = 0;
};

}  // namespace vmae::train

#endif  // VMAE_WORKER_TRAIN_OPTIMIZER_H_
