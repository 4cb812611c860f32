#include "worker/eval/accuracy.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"

namespace vmae::eval {

absl::StatusOr<std::vector<int64_t>> TopKCorrect(const torch::Tensor& logits,
                                                 const torch::Tensor& labels,
                                                 const std::vector<int64_t>& ks) {
  if (!logits.defined() || logits.dim() != 2 || logits.size(0) < 1 || logits.size(1) < 1) {
    return absl::InvalidArgumentError("top-k accuracy: logits must be a non-empty [B, K]");
  }
  if (logits.is_complex() || logits.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError("top-k accuracy: logits must be real numbers");
  }
  if (!labels.defined() || labels.dim() != 1 || labels.is_floating_point() || labels.is_complex() ||
      labels.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError("top-k accuracy: labels must be a 1-D integer tensor");
  }
  const int64_t batch = logits.size(0);
  const int64_t num_classes = logits.size(1);
  if (labels.size(0) != batch) {
    return absl::InvalidArgumentError(
        absl::StrFormat("top-k accuracy: %d labels for %d rows of logits", labels.size(0), batch));
  }
  if (ks.empty()) {
    return absl::InvalidArgumentError("top-k accuracy: no k given");
  }
  for (const int64_t k : ks) {
    if (k < 1) {
      return absl::InvalidArgumentError(
          absl::StrFormat("top-k accuracy: k must be >= 1; got %d", k));
    }
  }
  const torch::Tensor target = labels.to(logits.device(), torch::kLong);
  // timm never matches a label >= K and counts the row wrong; for an
  // evaluation set that is a data error worth stopping on.
  const int64_t lo = target.min().item<int64_t>();
  const int64_t hi = target.max().item<int64_t>();
  if (lo < 0 || hi >= num_classes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "top-k accuracy: labels must be in [0, %d); got values in [%d, %d]", num_classes, lo, hi));
  }
  // timm: maxk = min(max(topk), K); pred = output.topk(maxk, 1, True, True);
  // correct[:min(k, maxk)].sum() (on the transposed table).
  const int64_t maxk = std::min(*std::max_element(ks.begin(), ks.end()), num_classes);
  const torch::Tensor pred = std::get<1>(logits.topk(maxk, /*dim=*/1, /*largest=*/true,
                                                     /*sorted=*/true));
  const torch::Tensor correct = pred.eq(target.view({-1, 1}));  // [B, maxk]
  std::vector<int64_t> counts;
  counts.reserve(ks.size());
  for (const int64_t k : ks) {
    counts.push_back(correct.slice(1, 0, std::min(k, maxk)).sum().item<int64_t>());
  }
  return counts;
}

absl::StatusOr<std::vector<double>> TopKAccuracy(const torch::Tensor& logits,
                                                 const torch::Tensor& labels,
                                                 const std::vector<int64_t>& ks) {
  absl::StatusOr<std::vector<int64_t>> counts = TopKCorrect(logits, labels, ks);
  if (!counts.ok()) {
    return counts.status();
  }
  const double batch = static_cast<double>(logits.size(0));
  std::vector<double> percents;
  percents.reserve(counts->size());
  for (const int64_t count : *counts) {
    percents.push_back(100.0 * static_cast<double>(count) / batch);
  }
  return percents;
}

}  // namespace vmae::eval
