#include "worker/train/classification_loss.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace vmae::train {
namespace {

// The logits in the precision the loss is computed in: float16 and bfloat16
// lose too much in log_softmax, so they go to float32 (what autocast does
// for log_softmax); float32 and float64 stay as they are.
absl::StatusOr<torch::Tensor> LossLogits(const torch::Tensor& logits) {
  if (!logits.defined() || logits.dim() != 2) {
    return absl::InvalidArgumentError(
        absl::StrFormat("classification loss: logits must be [B, K]; got %d dimensions",
                        logits.defined() ? logits.dim() : 0));
  }
  if (!logits.is_floating_point()) {
    return absl::InvalidArgumentError("classification loss: logits must be floating point");
  }
  // The mean over an empty batch is NaN, which would poison the weights.
  if (logits.size(0) < 1 || logits.size(1) < 1) {
    return absl::InvalidArgumentError(absl::StrFormat("classification loss: empty logits [%d, %d]",
                                                      logits.size(0), logits.size(1)));
  }
  if (logits.scalar_type() == torch::kHalf || logits.scalar_type() == torch::kBFloat16) {
    return logits.to(torch::kFloat);
  }
  return logits;
}

// Labels [B] in [0, K), as int64 (gather and nll_loss need it).
absl::StatusOr<torch::Tensor> LossLabels(const torch::Tensor& labels, const torch::Tensor& logits) {
  if (!labels.defined() || labels.dim() != 1 || labels.is_floating_point() || labels.is_complex() ||
      labels.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError("classification loss: labels must be a 1-D integer tensor");
  }
  if (labels.size(0) != logits.size(0)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "classification loss: %d labels for %d rows of logits", labels.size(0), logits.size(0)));
  }
  // Out of range, gather and nll_loss throw on the CPU but only hit a
  // device assert on a GPU, which kills the process.
  const torch::Tensor index = labels.to(torch::kLong);
  const int64_t lo = index.min().item<int64_t>();
  const int64_t hi = index.max().item<int64_t>();
  if (lo < 0 || hi >= logits.size(1)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("classification loss: labels must be in [0, %d); got values in [%d, %d]",
                        logits.size(1), lo, hi));
  }
  return index;
}

absl::Status ValidateSmoothing(double smoothing) {
  // timm's LabelSmoothingCrossEntropy asserts smoothing < 1.
  if (!std::isfinite(smoothing) || smoothing < 0.0 || smoothing >= 1.0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "classification loss: label smoothing must be in [0, 1); got %g", smoothing));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<torch::Tensor> SoftTargetCrossEntropy(const torch::Tensor& logits,
                                                     const torch::Tensor& targets) {
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor x, LossLogits(logits));
  if (!targets.defined() || targets.sizes() != logits.sizes() || !targets.is_floating_point()) {
    return absl::InvalidArgumentError(
        "classification loss: soft targets must be floating point and shaped like the logits");
  }
  return torch::sum(-targets * torch::log_softmax(x, -1), -1).mean();
}

absl::StatusOr<torch::Tensor> LabelSmoothingCrossEntropy(const torch::Tensor& logits,
                                                         const torch::Tensor& labels,
                                                         double smoothing) {
  VMAE_RETURN_IF_ERROR(ValidateSmoothing(smoothing));
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor x, LossLogits(logits));
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor index, LossLabels(labels, x));
  const torch::Tensor logprobs = torch::log_softmax(x, -1);
  const torch::Tensor nll_loss = -logprobs.gather(-1, index.unsqueeze(1)).squeeze(1);
  const torch::Tensor smooth_loss = -logprobs.mean(-1);
  // timm: self.confidence * nll_loss + self.smoothing * smooth_loss.
  return ((1.0 - smoothing) * nll_loss + smoothing * smooth_loss).mean();
}

absl::StatusOr<torch::Tensor> CrossEntropy(const torch::Tensor& logits,
                                           const torch::Tensor& labels) {
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor x, LossLogits(logits));
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor index, LossLabels(labels, x));
  return torch::nn::functional::cross_entropy(x, index);
}

ClassificationLossKind ChooseClassificationLoss(const ClassificationLossOptions& options) {
  if (options.mixup_active) {
    return ClassificationLossKind::kSoftTargetCrossEntropy;
  }
  if (options.smoothing > 0.0) {
    return ClassificationLossKind::kLabelSmoothingCrossEntropy;
  }
  return ClassificationLossKind::kCrossEntropy;
}

absl::StatusOr<torch::Tensor> ClassificationLoss(const ClassificationLossOptions& options,
                                                 const torch::Tensor& logits,
                                                 const torch::Tensor& targets) {
  // Checked whatever the kind, so a bad option fails on the first step and
  // not only once mixup is switched off.
  VMAE_RETURN_IF_ERROR(ValidateSmoothing(options.smoothing));
  switch (ChooseClassificationLoss(options)) {
    case ClassificationLossKind::kSoftTargetCrossEntropy:
      return SoftTargetCrossEntropy(logits, targets);
    case ClassificationLossKind::kLabelSmoothingCrossEntropy:
      return LabelSmoothingCrossEntropy(logits, targets, options.smoothing);
    case ClassificationLossKind::kCrossEntropy:
      return CrossEntropy(logits, targets);
  }
  return absl::InternalError("classification loss: unknown loss kind");
}

}  // namespace vmae::train
