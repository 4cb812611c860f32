// Training crops: where to cut the frame (in source pixels) before the
// decoder resizes the cut to input_size squared (bilinear). Only the
// parameters are drawn here; the same box applies to every frame of a clip.
#ifndef VMAE_WORKER_DATA_AUGMENT_CROP_PARAMS_H_
#define VMAE_WORKER_DATA_AUGMENT_CROP_PARAMS_H_

#include <array>
#include <utility>
#include <vector>

#include "common/random/counter_random.h"
#include "worker/data/sampling/crop_box.h"  // CropBox

namespace vmae::data {

struct MultiScaleCropOptions {
  std::vector<double> scales = {1.0, 0.875, 0.75, 0.66};  // Default: the authors'.
  int max_distort = 1;                                    // Default: 1.
};

// The authors' GroupMultiScaleCrop (VideoMAE pre-training) with fix_crop and
// more_fix_crop: crop sizes int(min(W, H) * scale), snapped to input_size
// when within 2 pixels of it; (width, height) pairs whose scale indices
// differ by at most max_distort; one pair and then one of the 13 fixed
// offsets chosen uniformly (two Below() draws: pair, then offset).
//
// One deviation: when a snapped size exceeds the frame (a short side of 222
// or 223 at scale 1), PIL would pad the crop with black; the decoder cannot,
// so the size is clamped to the frame (offset 0 along that side).
CropBox MultiScaleCrop(int width, int height, int input_size, random::RandomStream& rng,
                       const MultiScaleCropOptions& options = {});

// The candidate (width, height) pairs in the authors' order:
// for i, h in enumerate(crop_h): for j, w in enumerate(crop_w): if |i - j| <=
// max_distort: (w, h).
std::vector<std::pair<int, int>> MultiScaleCropPairs(int width, int height, int input_size,
                                                     const MultiScaleCropOptions& options = {});

// fill_fix_offset(more_fix_crop=True): w_step = (W - cw) // 4, h_step =
// (H - ch) // 4 (floor division) and the 13 (x, y) offsets in the authors'
// order: (0,0) (4w,0) (0,4h) (4w,4h) (2w,2h) (0,2h) (4w,2h) (2w,4h) (2w,0)
// (w,h) (3w,h) (w,3h) (3w,3h), in steps. Duplicates are kept, as theirs are.
std::array<std::pair<int, int>, 13> FixedCropOffsets(int width, int height, int crop_width,
                                                     int crop_height);

struct RandomResizedCropOptions {
  double min_scale = 0.08;       // Default: 0.08 of the frame area.
  double max_scale = 1.0;        // Default: 1.
  double min_ratio = 3.0 / 4.0;  // Default: 3/4 (width / height).
  double max_ratio = 4.0 / 3.0;  // Default: 4/3.
  int attempts = 10;             // Default: 10.
};

// pytorchvideo / SlowFast `_get_param_spatial_crop` (log_scale, no switch_hw),
// as VideoMAE fine-tuning uses it. Each attempt draws target_area = area *
// Uniform(min_scale, max_scale), then aspect = exp(Uniform(log min_ratio,
// log max_ratio)); w = round(sqrt(target_area * aspect)), h =
// round(sqrt(target_area / aspect)) with Python's round (halves to even);
// if 0 < w <= W and 0 < h <= H: y = IntInclusive(0, H - h), then x =
// IntInclusive(0, W - w). After `attempts` misses: a centre crop, the whole
// frame when its ratio is within range, else clamped to the nearest ratio
// (w = W, h = round(W / min_ratio), or h = H, w = round(H * max_ratio)).
CropBox RandomResizedCrop(int width, int height, random::RandomStream& rng,
                          const RandomResizedCropOptions& options = {});

// Horizontal flip with probability 0.5 (one Uniform() draw).
bool Flip(random::RandomStream& rng);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_AUGMENT_CROP_PARAMS_H_
