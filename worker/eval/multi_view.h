// Multi-view testing as the authors' final evaluation does it
// (engine_for_finetuning.py final_test + merge): every video is seen in
// several views (Kinetics 5 clips x 3 crops, Something-Something 2 x 3), the
// softmax of each view's logits is averaged over the views, and top-1 / top-5
// are counted over videos.
#ifndef VMAE_WORKER_EVAL_MULTI_VIEW_H_
#define VMAE_WORKER_EVAL_MULTI_VIEW_H_

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::eval {

struct ClassProbability {
  int64_t class_index = 0;
  // Mean over the video's views of the softmax probability.
  double probability = 0.0;
};

// One video's merged result.
struct VideoPrediction {
  std::string video_id;
  int64_t label = 0;
  // Views merged (views_per_video unless some are missing).
  int64_t num_views = 0;
  // The most probable classes, best first; ties go to the lower class index.
  std::vector<ClassProbability> top;
};

// Accuracy over videos, in percent.
struct MultiViewSummary {
  int64_t num_videos = 0;
  // Videos with fewer views than views_per_video (merged from those they
  // have, as the authors do).
  int64_t num_incomplete = 0;
  double top1 = 0.0;
  double top5 = 0.0;
};

// Accumulates per-view logits into per-video mean probabilities. Views may
// arrive in any order (ranks, shards, batches); the result does not depend
// on the order, bit for bit. Not thread-safe; movable.
class MultiViewAggregator {
 public:
  // Views are numbered [0, views_per_video), e.g. the authors'
  // chunk_nb * num_crops + split_nb. InvalidArgument unless num_classes >= 1
  // and 1 <= views_per_video <= 1024.
  static absl::StatusOr<MultiViewAggregator> Create(int64_t num_classes, int64_t views_per_video);

  // Adds one view: `logits` [K], any real dtype and device.
  //   InvalidArgument: bad shape, non-finite logits, label outside [0, K),
  //     view outside [0, views_per_video), or a label that differs from the
  //     one the video's earlier views gave.
  //   AlreadyExists: this (video, view) was added before. The authors
  //     silently skip such repeats (DistributedSampler pads the last shard
  //     with repeated samples); a caller that pads may treat this code as a
  //     skip.
  // On error nothing is added.
  absl::Status Add(absl::string_view video_id, int64_t label, int64_t view,
                   const torch::Tensor& logits);

  // Adds a batch: row b of `logits` [B, K] is view views[b] of video
  // video_ids[b] with label labels[b] (`labels` and `views` are [B],
  // integral). The same errors as Add(), checked for every row (repeats
  // within the batch included) before any row is added.
  absl::Status AddBatch(const std::vector<std::string>& video_ids, const torch::Tensor& labels,
                        const torch::Tensor& views, const torch::Tensor& logits);

  int64_t num_videos() const { return static_cast<int64_t>(videos_.size()); }
  int64_t num_classes() const { return num_classes_; }
  int64_t views_per_video() const { return views_per_video_; }

  // Videos with fewer than views_per_video views, sorted by id.
  std::vector<std::string> IncompleteVideos() const;

  // Every video sorted by id, with its min(top_k, K) most probable classes.
  // top_k must be >= 1.
  std::vector<VideoPrediction> Predictions(int64_t top_k) const;

  // Top-1 / top-5 over all videos (the label among the 5 most probable
  // classes, or all K when K < 5). FailedPrecondition when no video was
  // added.
  absl::StatusOr<MultiViewSummary> Summary() const;

 private:
  struct Video {
    int64_t label = 0;
    int64_t num_views = 0;
    std::vector<bool> has_view;  // [views_per_video]
    // Sum over views of round(probability * 2^52). Integer addition is
    // associative, so the sum (and every result) is the same in any arrival
    // order, which a floating-point sum is not; 2^-52 is far below any
    // difference that can change a ranking that matters.
    std::vector<int64_t> probability_sum;  // [num_classes]
  };

  MultiViewAggregator(int64_t num_classes, int64_t views_per_video)
      : num_classes_(num_classes), views_per_video_(views_per_video) {}

  // InvalidArgument / AlreadyExists as Add() describes, against the videos
  // added so far.
  absl::Status CheckView(absl::string_view video_id, int64_t label, int64_t view) const;
  // Adds a checked view; `probabilities` holds num_classes_ values.
  void AddChecked(absl::string_view video_id, int64_t label, int64_t view,
                  const double* probabilities);
  // Class indices ordered by mean probability, best first, ties to the lower
  // index; the first min(k, K).
  std::vector<int64_t> TopClasses(const Video& video, int64_t k) const;

  int64_t num_classes_;
  int64_t views_per_video_;
  std::map<std::string, Video, std::less<>> videos_;
};

}  // namespace vmae::eval

#endif  // VMAE_WORKER_EVAL_MULTI_VIEW_H_
