// Top-k accuracy of a batch of logits, as timm's accuracy(output, target,
// topk=(1, 5)) that the authors' engine_for_finetuning.py logs.
#ifndef VMAE_WORKER_EVAL_ACCURACY_H_
#define VMAE_WORKER_EVAL_ACCURACY_H_

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace vmae::eval {

// For each k in `ks`, how many rows of `logits` [B, K] have their label
// among the min(k, K) largest logits (torch.topk, so ties break as PyTorch's
// do). `labels` is [B], integral, each in [0, K); B >= 1; every k >= 1.
// InvalidArgument otherwise. Counts add up over batches, unlike percents of
// batches of different sizes.
absl::StatusOr<std::vector<int64_t>> TopKCorrect(const torch::Tensor& logits,
                                                 const torch::Tensor& labels,
                                                 const std::vector<int64_t>& ks = {1, 5});

// timm's accuracy: TopKCorrect as a percentage of B (100 * correct / B).
// (timm rounds it in float32; this is the exact quotient in double.)
absl::StatusOr<std::vector<double>> TopKAccuracy(const torch::Tensor& logits,
                                                 const torch::Tensor& labels,
                                                 const std::vector<int64_t>& ks = {1, 5});

}  // namespace vmae::eval

#endif  // VMAE_WORKER_EVAL_ACCURACY_H_
