// One training step of VideoMAE pre-training and fine-tuning, as the
// authors' engines do it (engine_for_pretraining.py / engine_for_finetuning.py
// train_one_epoch): schedule update at the start of an optimizer step,
// forward and loss (under autocast on CUDA), backward of the loss divided by
// the accumulation steps, then at the end of the accumulation: gradient norm
// (and clipping when configured) and the AdamW step.
//
// Precision: fp32 on the CPU. On CUDA, bf16 autocast by default, or fp16
// autocast with a dynamic loss scale (the authors' NativeScaler), or fp32.
// The AdamW step uses LibTorch's fused CUDA kernel (at::_fused_adamw_) when
// it exists (LibTorch >= 2.1) and the parameters are on CUDA, a one-pass
// loop on the CPU, or torch::optim::AdamW; all keep their moments in the
// same optimizer state. Gradients are dropped after each optimizer step
// (set_to_none), so the next backward writes them without a zero-fill.
#ifndef VMAE_WORKER_TRAIN_TRAIN_STEP_H_
#define VMAE_WORKER_TRAIN_TRAIN_STEP_H_

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>

#include "worker/model/classifier.h"
#include "worker/model/pretrain_model.h"
#include "worker/model/target.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/optimizer.h"

namespace vmae::train {

enum class Precision { kFloat32, kBFloat16, kFloat16 };

// "fp32", "bf16" or "fp16"; nullopt for anything else.
std::optional<Precision> ParsePrecision(std::string_view name);
const char* PrecisionName(Precision precision);

// True when this build can run the fused AdamW kernel on CUDA (LibTorch >= 2.1).
bool FusedAdamWCompiledIn();

struct StepOptions {
  /// Micro-batches per optimizer step (the authors' update_freq). Default: 1.
  int64_t accum_steps = 1;
  /// Max gradient 2-norm; <= 0 means no clipping (the pre-training recipe).
  /// The norm is computed and reported either way. Default: 0.
  double clip_grad = 0.0;
  /// Precision of forward and loss on CUDA (the CPU always runs fp32).
  /// Default: bf16.
  Precision cuda_precision = Precision::kBFloat16;
  /// One fused AdamW pass: at::_fused_adamw_ on CUDA where compiled in,
  /// our one-pass loop for contiguous fp32 CPU parameters; else
  /// torch::optim::AdamW::step(). Same state either way. Default: true.
  bool fused_adamw = true;
  /// fp16 only: the initial loss scale (torch.cuda.amp.GradScaler's 2^16),
  /// halved on a non-finite gradient (that step is skipped) and doubled
  /// after `fp16_growth_interval` good steps. Default: 65536.
  double fp16_init_scale = 65536.0;
  /// Default: 2000 (GradScaler's).
  int64_t fp16_growth_interval = 2000;
};

// What one micro-batch did.
struct StepResult {
  /// This micro-batch's loss (before the division by accum_steps).
  double loss = 0.0;
  /// True when this micro-batch completed an optimizer step.
  bool optimizer_stepped = false;
  /// fp16 only: the gradients were not finite, the step was skipped.
  bool skipped = false;
  /// 2-norm of the accumulated gradient before clipping; NaN unless stepped.
  double grad_norm = std::numeric_limits<double>::quiet_NaN();
  /// The scheduled lr (before each group's lr_scale) and weight decay of the
  /// optimizer step this micro-batch belongs to. Without a schedule, the lr
  /// and weight decay of the first group.
  double lr = 0.0;
  double weight_decay = 0.0;
  /// Samples seen after this call (see TrainStepper).
  int64_t samples_seen = 0;
};

// Data parallelism's seam in a step: called around the backward of the
// micro-batch that completes an optimizer step, so the gradients can be
// averaged across ranks (overlapped with that backward) before the gradient
// norm and the optimizer step see them. Errors are thrown (the step cannot
// go on without the peers' gradients).
class GradSync {
 public:
  virtual ~GradSync() = default;
  virtual void BeforeFinalBackward() = 0;
  virtual void AfterFinalBackward() = 0;
};

// Runs micro-batches against one optimizer: owns the accumulation counter,
// the samples-seen cursor and the fp16 loss scale. The optimizer and the
// schedule must outlive it. The model's train/eval mode is the caller's.
// Not thread-safe.
//
// Samples seen: the videos consumed by completed optimizer steps. The lr and
// weight decay of a step are schedule->LrAtSamples(samples_seen) and
// WdAtSamples(samples_seen) at its first micro-batch (ApplySchedule). After
// each optimizer step samples_seen grows by schedule->global_batch() (all
// ranks' videos), or without a schedule by the clips of its micro-batches.
class TrainStepper {
 public:
  // `schedule` may be null: the groups' lr and weight decay stay as set.
  TrainStepper(GroupedAdamW* optimizer, const TrainSchedule* schedule,
               const StepOptions& options, int64_t samples_seen = 0);

  // One micro-batch: `forward_loss` runs the forward pass and returns the
  // scalar loss; it runs under autocast when `device` is CUDA and the
  // precision asks for it. `clips` is the micro-batch size.
  StepResult Run(const std::function<at::Tensor()>& forward_loss, const c10::Device& device,
                 int64_t clips);

  int64_t samples_seen() const { return samples_seen_; }
  void set_samples_seen(int64_t samples_seen) { samples_seen_ = samples_seen; }
  const GradAccumulator& accumulator() const { return accumulator_; }
  const StepOptions& options() const { return options_; }
  // Not owned; null (the default) trains alone.
  void set_grad_sync(GradSync* sync) { grad_sync_ = sync; }
  // fp16 loss scale (1 for other precisions).
  double loss_scale() const { return loss_scale_; }

 private:
  // Grad norm, clipping and the optimizer step; fills the result.
  void FinishStep(const c10::Device& device, StepResult& result);
  void OptimizerStep(const c10::Device& device);

  GroupedAdamW* optimizer_;
  const TrainSchedule* schedule_;
  StepOptions options_;
  GradAccumulator accumulator_;
  GradSync* grad_sync_ = nullptr;
  int64_t samples_seen_;
  int64_t clips_in_step_ = 0;
  double step_lr_ = 0.0;
  double step_wd_ = 0.0;
  double loss_scale_ = 1.0;
  int64_t good_steps_ = 0;
};

// The pre-training loss of the authors' engine.
struct PretrainLossOptions {
  /// Per-patch, per-channel normalised target (--normlize_target). Default: true.
  bool normalize_target = true;
  /// Default: MSE (the authors'; L1 and smooth L1 are ablations).
  model::LossKind kind = model::LossKind::kMse;
};

// clips [B, 3, T, H, W] ImageNet-normalised; mask [B, N] bool (true =
// hidden from the encoder); decoder_mask undefined (V1) or [B, N] bool
// (V2: true = not decoded). Target from the clips without grad, loss on the
// decoded tokens (DecodedPositions). Inputs are moved to the model's device.
StepResult PretrainStep(model::PretrainVisionTransformer& model, TrainStepper& stepper,
                        const at::Tensor& clips, const at::Tensor& mask,
                        const at::Tensor& decoder_mask, const PretrainLossOptions& loss);

// Maps the classifier's logits [B, classes] to a scalar loss (e.g. the soft
// cross-entropy of mixed targets, or label smoothing).
using LogitsLoss = std::function<at::Tensor(const at::Tensor& logits)>;

// Fine-tuning: logits = model(clips), loss = loss_fn(logits).
StepResult FinetuneStep(model::VisionTransformer& model, TrainStepper& stepper,
                        const at::Tensor& clips, const LogitsLoss& loss_fn);

// Fine-tuning against a target tensor: [B, classes] soft targets (timm's
// SoftTargetCrossEntropy: mean over clips of sum(-target * log_softmax)), or
// [B] int64 class indices (cross-entropy). The loss is computed in fp32.
StepResult FinetuneStep(model::VisionTransformer& model, TrainStepper& stepper,
                        const at::Tensor& clips, const at::Tensor& targets);

}  // namespace vmae::train

#endif  // VMAE_WORKER_TRAIN_TRAIN_STEP_H_
