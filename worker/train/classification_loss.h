// The fine-tuning losses the authors pick between (run_class_finetuning.py):
// timm's SoftTargetCrossEntropy for mixed targets, timm's
// LabelSmoothingCrossEntropy, and plain cross entropy.
#ifndef VMAE_WORKER_TRAIN_CLASSIFICATION_LOSS_H_
#define VMAE_WORKER_TRAIN_CLASSIFICATION_LOSS_H_

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace vmae::train {

// Every loss below takes logits [B, K] (float32 or float64; float16 and
// bfloat16 are computed in float32, as autocast runs log_softmax) and
// returns a 0-dim tensor with autograd to the logits: the mean over the
// batch. InvalidArgument for mismatched shapes, an empty batch, labels out
// of [0, K), or a smoothing outside [0, 1).

// timm's SoftTargetCrossEntropy: sum(-targets * log_softmax(logits), -1)
// .mean(). `targets` is [B, K] floating point (MixTargets' output).
absl::StatusOr<torch::Tensor> SoftTargetCrossEntropy(const torch::Tensor& logits,
                                                     const torch::Tensor& targets);

// timm's LabelSmoothingCrossEntropy(smoothing): per row
// (1 - smoothing) * -logp[label] + smoothing * mean(-logp), then the mean.
// It equals SoftTargetCrossEntropy with the smoothed one-hot targets
// (1 - smoothing) * onehot + smoothing / K. `labels` is [B], integral.
absl::StatusOr<torch::Tensor> LabelSmoothingCrossEntropy(const torch::Tensor& logits,
                                                         const torch::Tensor& labels,
                                                         double smoothing);

// torch.nn.CrossEntropyLoss() (mean reduction). `labels` is [B], integral.
absl::StatusOr<torch::Tensor> CrossEntropy(const torch::Tensor& logits,
                                           const torch::Tensor& labels);

enum class ClassificationLossKind {
  kSoftTargetCrossEntropy,
  kLabelSmoothingCrossEntropy,
  kCrossEntropy,
};

// What the training criterion depends on.
struct ClassificationLossOptions {
  /// Mixup or CutMix in use (the authors' mixup_active: mixup > 0 or
  /// cutmix > 0). Default: true (fine-tuning recipe).
  bool mixup_active = true;
  /// Label smoothing (--smoothing). With mixup it lives in the mixed
  /// targets instead. Default: 0.1.
  double smoothing = 0.1;
};

// The authors' choice: mixup active -> soft-target CE; else smoothing > 0
// -> label-smoothing CE; else CE. (Their validation always uses plain CE.)
ClassificationLossKind ChooseClassificationLoss(const ClassificationLossOptions& options);

// The training loss of a batch with the chosen criterion: `targets` are the
// mixed soft targets [B, K] for kSoftTargetCrossEntropy, the labels [B]
// otherwise.
absl::StatusOr<torch::Tensor> ClassificationLoss(const ClassificationLossOptions& options,
                                                 const torch::Tensor& logits,
                                                 const torch::Tensor& targets);

}  // namespace vmae::train

#endif  // VMAE_WORKER_TRAIN_CLASSIFICATION_LOSS_H_
