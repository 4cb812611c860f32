#include "worker/data/augment/erasing.h"

#include <cmath>
#include <cstddef>

#include "worker/data/sampling/precondition.h"

namespace vmae::data {

std::vector<ErasedBox> RandomErasing(const ErasingOptions& options, random::RandomStream& rng,
                                     float* clip, int channels, int frames, int height, int width) {
  Require(clip != nullptr && channels >= 1 && frames >= 0 && height >= 1 && width >= 1,
          "RandomErasing", "need a clip and a positive shape");
  Require(options.max_count >= 1 && options.min_aspect > 0, "RandomErasing",
          "max_count must be >= 1 and min_aspect > 0");
  const size_t plane = static_cast<size_t>(height) * width;
  const size_t frame_stride = plane;
  const size_t channel_stride = plane * frames;
  const double area = static_cast<double>(plane);
  const double log_lo = std::log(options.min_aspect);
  const double log_hi = std::log(1.0 / options.min_aspect);
  std::vector<ErasedBox> boxes;
  for (int t = 0; t < frames; ++t) {
    if (!rng.Bernoulli(options.probability)) {
      continue;
    }
    const int count =
        options.max_count == 1 ? 1 : static_cast<int>(rng.IntInclusive(1, options.max_count));
    for (int n = 0; n < count; ++n) {
      for (int attempt = 0; attempt < 10; ++attempt) {
        const double target_area = rng.Uniform(options.min_area, options.max_area) * area / count;
        const double aspect = std::exp(rng.Uniform(log_lo, log_hi));
        // Python's int(round(x)): halves to even, as std::nearbyint does.
        const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area * aspect)));
        const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area / aspect)));
        if (w >= width || h >= height) {
          continue;
        }
        const int top = static_cast<int>(rng.IntInclusive(0, height - h));
        const int left = static_cast<int>(rng.IntInclusive(0, width - w));
        for (int c = 0; c < channels; ++c) {
          float* frame = clip + c * channel_stride + t * frame_stride;
          for (int y = top; y < top + h; ++y) {
            float* row = frame + static_cast<size_t>(y) * width;
            for (int x = left; x < left + w; ++x) {
              row[x] = static_cast<float>(rng.Normal());
            }
          }
        }
        boxes.push_back(ErasedBox{t, top, left, h, w});
        break;
      }
    }
  }
  return boxes;
}

}  // namespace vmae::data
