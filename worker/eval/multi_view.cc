#include "worker/eval/multi_view.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"

namespace vmae::eval {
namespace {

// Fixed-point scale of the probability sums: 2^52, so a sum of up to
// kMaxViews probabilities of at most 1 stays below 2^62.
constexpr double kScale = 0x1.0p52;
constexpr int64_t kMaxViews = 1024;

bool IsIntegral(const torch::Tensor& t) {
  return !t.is_floating_point() && !t.is_complex() && t.scalar_type() != torch::kBool;
}

// Softmax over the last dimension in float64 on the CPU (the authors' merge
// takes numpy's softmax of the logits in float64). InvalidArgument for
// non-finite logits, whose softmax is NaN.
absl::StatusOr<torch::Tensor> Probabilities(const torch::Tensor& logits) {
  if (logits.is_complex() || logits.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError("multi-view: logits must be real numbers");
  }
  const torch::Tensor x = logits.detach().to(torch::kCPU, torch::kDouble);
  if (!torch::isfinite(x).all().item<bool>()) {
    return absl::InvalidArgumentError("multi-view: logits must be finite");
  }
  return x.softmax(-1).contiguous();
}

}  // namespace

absl::StatusOr<MultiViewAggregator> MultiViewAggregator::Create(int64_t num_classes,
                                                                int64_t views_per_video) {
  if (num_classes < 1 || views_per_video < 1 || views_per_video > kMaxViews) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "multi-view: need num_classes >= 1 and 1 <= views_per_video <= %d; got %d, %d", kMaxViews,
        num_classes, views_per_video));
  }
  return MultiViewAggregator(num_classes, views_per_video);
}

absl::Status MultiViewAggregator::CheckView(absl::string_view video_id, int64_t label,
                                            int64_t view) const {
  if (label < 0 || label >= num_classes_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "multi-view: video '%s': label %d outside [0, %d)", video_id, label, num_classes_));
  }
  if (view < 0 || view >= views_per_video_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "multi-view: video '%s': view %d outside [0, %d)", video_id, view, views_per_video_));
  }
  const auto it = videos_.find(video_id);
  if (it == videos_.end()) {
    return absl::OkStatus();
  }
  if (it->second.label != label) {
    return absl::InvalidArgumentError(
        absl::StrFormat("multi-view: video '%s': view %d has label %d, earlier views had %d",
                        video_id, view, label, it->second.label));
  }
  if (it->second.has_view[static_cast<size_t>(view)]) {
    return absl::AlreadyExistsError(
        absl::StrFormat("multi-view: video '%s': view %d was already added", video_id, view));
  }
  return absl::OkStatus();
}

void MultiViewAggregator::AddChecked(absl::string_view video_id, int64_t label, int64_t view,
                                     const double* probabilities) {
  auto it = videos_.find(video_id);
  if (it == videos_.end()) {
    Video video;
    video.label = label;
    video.has_view.assign(static_cast<size_t>(views_per_video_), false);
    video.probability_sum.assign(static_cast<size_t>(num_classes_), 0);
    it = videos_.emplace(std::string(video_id), std::move(video)).first;
  }
  Video& video = it->second;
  video.has_view[static_cast<size_t>(view)] = true;
  ++video.num_views;
  for (int64_t k = 0; k < num_classes_; ++k) {
    video.probability_sum[static_cast<size_t>(k)] += std::llround(probabilities[k] * kScale);
  }
}

absl::Status MultiViewAggregator::Add(absl::string_view video_id, int64_t label, int64_t view,
                                      const torch::Tensor& logits) {
  if (!logits.defined() || logits.dim() != 1 || logits.size(0) != num_classes_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("multi-view: video '%s': logits must be [%d]", video_id, num_classes_));
  }
  VMAE_RETURN_IF_ERROR(CheckView(video_id, label, view));
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor probabilities, Probabilities(logits));
  AddChecked(video_id, label, view, probabilities.data_ptr<double>());
  return absl::OkStatus();
}

absl::Status MultiViewAggregator::AddBatch(const std::vector<std::string>& video_ids,
                                           const torch::Tensor& labels, const torch::Tensor& views,
                                           const torch::Tensor& logits) {
  const int64_t batch = static_cast<int64_t>(video_ids.size());
  if (!logits.defined() || logits.dim() != 2 || logits.size(0) != batch ||
      logits.size(1) != num_classes_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "multi-view: logits must be [%d, %d] for %d video ids", batch, num_classes_, batch));
  }
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != batch || !IsIntegral(labels) ||
      !views.defined() || views.dim() != 1 || views.size(0) != batch || !IsIntegral(views)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("multi-view: labels and views must be [%d] integer tensors", batch));
  }
  const torch::Tensor label_values = labels.to(torch::kCPU, torch::kLong).contiguous();
  const torch::Tensor view_values = views.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* label_data = label_values.data_ptr<int64_t>();
  const int64_t* view_data = view_values.data_ptr<int64_t>();
  // Every row is checked before any is added, so a failed batch leaves the
  // aggregator as it was. Rows of the batch are checked against each other
  // too: the videos first seen in this batch, and the (video, view) pairs.
  std::map<absl::string_view, int64_t> new_labels;
  std::map<std::pair<absl::string_view, int64_t>, int64_t> rows;
  for (int64_t b = 0; b < batch; ++b) {
    const absl::string_view id = video_ids[static_cast<size_t>(b)];
    VMAE_RETURN_IF_ERROR(CheckView(id, label_data[b], view_data[b]));
    if (!rows.emplace(std::make_pair(id, view_data[b]), b).second) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "multi-view: video '%s': view %d appears twice in the batch", id, view_data[b]));
    }
    const auto [it, inserted] = new_labels.emplace(id, label_data[b]);
    if (!inserted && it->second != label_data[b]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "multi-view: video '%s': labels %d and %d in one batch", id, it->second, label_data[b]));
    }
  }
  VMAE_ASSIGN_OR_RETURN(const torch::Tensor probabilities, Probabilities(logits));
  const double* data = probabilities.data_ptr<double>();
  for (int64_t b = 0; b < batch; ++b) {
    AddChecked(video_ids[static_cast<size_t>(b)], label_data[b], view_data[b],
               data + b * num_classes_);
  }
  return absl::OkStatus();
}

std::vector<std::string> MultiViewAggregator::IncompleteVideos() const {
  std::vector<std::string> ids;
  for (const auto& [id, video] : videos_) {
    if (video.num_views < views_per_video_) {
      ids.push_back(id);
    }
  }
  return ids;
}

std::vector<int64_t> MultiViewAggregator::TopClasses(const Video& video, int64_t k) const {
  std::vector<int64_t> order(static_cast<size_t>(num_classes_));
  std::iota(order.begin(), order.end(), int64_t{0});
  const auto n = static_cast<std::ptrdiff_t>(std::min(k, num_classes_));
  // Comparing the sums is comparing the means: one video, one view count.
  const std::vector<int64_t>& sum = video.probability_sum;
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&sum](int64_t a, int64_t b) {
    const int64_t sa = sum[static_cast<size_t>(a)];
    const int64_t sb = sum[static_cast<size_t>(b)];
    return sa > sb || (sa == sb && a < b);
  });
  order.resize(static_cast<size_t>(n));
  return order;
}

std::vector<VideoPrediction> MultiViewAggregator::Predictions(int64_t top_k) const {
  TORCH_CHECK(top_k >= 1, "MultiViewAggregator::Predictions: top_k ", top_k, " < 1");
  std::vector<VideoPrediction> predictions;
  predictions.reserve(videos_.size());
  for (const auto& [id, video] : videos_) {
    VideoPrediction prediction;
    prediction.video_id = id;
    prediction.label = video.label;
    prediction.num_views = video.num_views;
    for (const int64_t c : TopClasses(video, top_k)) {
      const double sum = static_cast<double>(video.probability_sum[static_cast<size_t>(c)]);
      prediction.top.push_back(
          ClassProbability{c, sum / kScale / static_cast<double>(video.num_views)});
    }
    predictions.push_back(std::move(prediction));
  }
  return predictions;
}

absl::StatusOr<MultiViewSummary> MultiViewAggregator::Summary() const {
  if (videos_.empty()) {
    return absl::FailedPreconditionError("multi-view: no video was added");
  }
  MultiViewSummary summary;
  int64_t top1 = 0;
  int64_t top5 = 0;
  for (const auto& [id, video] : videos_) {
    const std::vector<int64_t> top = TopClasses(video, 5);
    top1 += top.front() == video.label ? 1 : 0;
    top5 += std::find(top.begin(), top.end(), video.label) != top.end() ? 1 : 0;
    summary.num_incomplete += video.num_views < views_per_video_ ? 1 : 0;
  }
  summary.num_videos = num_videos();
  summary.top1 = 100.0 * static_cast<double>(top1) / static_cast<double>(summary.num_videos);
  summary.top5 = 100.0 * static_cast<double>(top5) / static_cast<double>(summary.num_videos);
  return summary;
}

}  // namespace vmae::eval
