// How one sample becomes clips: which frames, which crops, which
// augmentation. Filled from the job spec's model and data sections.
#ifndef VMAE_WORKER_DATA_LOADER_CLIP_RECIPE_H_
#define VMAE_WORKER_DATA_LOADER_CLIP_RECIPE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "worker/data/augment/rand_augment.h"

namespace vmae::data {

enum class ClipMode {
  kPretrain,  // stride sampling, multi-scale crop, no flip (the authors' pre-training)
  kTrain,     // fine-tuning: dense or segment sampling, random resized crop,
              // RandAugment, flip, random erasing
  kValidate,  // one clip per sample, centre crop of the short side
  kTest,      // test_clips x test_crops views per sample
};

enum class Sampling { kStride, kDense, kSegment };

struct ClipRecipe {
  ClipMode mode = ClipMode::kPretrain;
  Sampling sampling = Sampling::kStride;
  int num_frames = 16;
  int sampling_rate = 4;
  int image_size = 224;
  // Clips per decoded video, each with its own spatial augmentation (and, in
  // training, its own mask): the authors' repeated augmentation.
  int repeated_aug = 1;
  // kTrain only.
  bool flip = true;  // false on Something-Something, where left/right is the label
  std::optional<RandAugmentConfig> rand_augment;
  double erase_probability = 0.25;
  // kTest only.
  int test_clips = 5;
  int test_crops = 3;
  uint64_t seed = 0;
  absl::Duration clip_timeout = absl::Seconds(60);

  // Clips one sample yields.
  int views() const {
    if (mode == ClipMode::kTest) return test_clips * test_crops;
    if (mode == ClipMode::kValidate) return 1;
    return repeated_aug;
  }
  // Floats in one clip: 3 x num_frames x image_size x image_size.
  int64_t clip_floats() const { return int64_t{3} * num_frames * image_size * image_size; }
};

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_CLIP_RECIPE_H_
