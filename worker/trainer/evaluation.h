// Distributed evaluation of a classifier: each rank reads its share of the
// validation list (entries rank, rank + world, ...), so no video is read
// twice and nothing is padded; per-video multi-view results are merged on
// the rank that read the video, and only the counts are summed across
// ranks. Padding therefore never counts, unlike DistributedSampler's.
#ifndef VMAE_WORKER_TRAINER_EVALUATION_H_
#define VMAE_WORKER_TRAINER_EVALUATION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/loader/clip_loader.h"
#include "worker/dist/process_group.h"
#include "worker/model/classifier.h"

namespace vmae::trainer {

struct EvalResult {
  double top1 = 0.0;  // percent of videos
  double top5 = 0.0;
  double loss = 0.0;  // mean cross-entropy over clips
  int64_t videos = 0;
  int64_t bad_videos = 0;
};

struct EvalOptions {
  data::LoaderOptions loader;  // recipe (validate or test), threads, bad-data limits
  int64_t batch_videos = 1;    // videos per forward at most
  int64_t num_classes = 0;
  at::Device device = at::kCPU;
};

// Runs on every rank (collectives inside); the result is the same on all.
absl::StatusOr<EvalResult> Evaluate(model::VisionTransformer& model,
                                    const std::vector<data::ManifestEntry>& entries,
                                    const EvalOptions& options, dist::ProcessGroup& group);

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_EVALUATION_H_
