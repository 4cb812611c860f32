// timm's RandomErasing (mode 'pixel', device 'cpu') as VideoMAE fine-tuning
// applies it: to a normalised clip, each frame independently.
#ifndef VMAE_WORKER_DATA_AUGMENT_ERASING_H_
#define VMAE_WORKER_DATA_AUGMENT_ERASING_H_

#include <vector>

#include "common/random/counter_random.h"

namespace vmae::data {

struct ErasingOptions {
  double probability = 0.25;    // Default: 0.25 per frame.
  double min_area = 0.02;       // Default: 0.02 of the frame.
  double max_area = 1.0 / 3.0;  // Default: 1/3.
  double min_aspect = 0.3;      // Default: 0.3; the range is [0.3, 1/0.3].
  int max_count = 1;            // Default: 1 box per erased frame.
};

// One erased rectangle (for tests and statistics).
struct ErasedBox {
  int frame = 0;
  int top = 0;
  int left = 0;
  int height = 0;
  int width = 0;
};

// For each frame t in order: skip it unless Uniform() < probability; the box
// count is max_count when it is 1, else IntInclusive(1, max_count) (timm's
// min_count = 1); for each box, up to 10 attempts of target_area =
// Uniform(min_area, max_area) * H * W / count, aspect =
// exp(Uniform(log min_aspect, log(1 / min_aspect))), h = round(sqrt(target_area
// * aspect)), w = round(sqrt(target_area / aspect)) (Python's round, halves
// to even); the first with w < W and h < H draws top = IntInclusive(0, H - h),
// then left = IntInclusive(0, W - w), and fills the box in every channel of
// frame t with standard normal values, drawn channel by channel, row by row.
// timm skips when random() > p; this uses >=, which differs only on a
// probability-zero event and makes `probability` exact.
//
// `clip` holds channels * frames * height * width floats, [C][T][H][W].
// Returns the boxes filled, in order.
std::vector<ErasedBox> RandomErasing(const ErasingOptions& options, random::RandomStream& rng,
                                     float* clip, int channels, int frames, int height, int width);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_AUGMENT_ERASING_H_
