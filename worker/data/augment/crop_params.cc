#include "worker/data/augment/crop_params.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "worker/data/sampling/precondition.h"

namespace vmae::data {
namespace {

// Python's a // b for b > 0 (rounds toward minus infinity).
int FloorDiv(int a, int b) {
  const int q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Python 3's round(): nearest integer, halves to even. std::nearbyint does
// that in the default rounding mode, which the data pipeline never changes.
int PyRound(double v) { return static_cast<int>(std::nearbyint(v)); }

}  // namespace

std::vector<std::pair<int, int>> MultiScaleCropPairs(int width, int height, int input_size,
                                                     const MultiScaleCropOptions& options) {
  const int base_size = std::min(width, height);
  std::vector<int> sizes;
  for (double scale : options.scales) {
    const int size = static_cast<int>(base_size * scale);
    // crop_h and crop_w snap the same way, as input_size is square.
    sizes.push_back(std::abs(size - input_size) < 3 ? input_size : size);
  }
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < static_cast<int>(sizes.size()); ++i) {
    for (int j = 0; j < static_cast<int>(sizes.size()); ++j) {
      if (std::abs(i - j) <= options.max_distort) {
        pairs.emplace_back(sizes[j], sizes[i]);  // (w, h): h from i, w from j
      }
    }
  }
  return pairs;
}

std::array<std::pair<int, int>, 13> FixedCropOffsets(int width, int height, int crop_width,
                                                     int crop_height) {
  const int w = FloorDiv(width - crop_width, 4);
  const int h = FloorDiv(height - crop_height, 4);
  return {{{0, 0},
           {4 * w, 0},
           {0, 4 * h},
           {4 * w, 4 * h},
           {2 * w, 2 * h},
           {0, 2 * h},
           {4 * w, 2 * h},
           {2 * w, 4 * h},
           {2 * w, 0},
           {w, h},
           {3 * w, h},
           {w, 3 * h},
           {3 * w, 3 * h}}};
}

CropBox MultiScaleCrop(int width, int height, int input_size, random::RandomStream& rng,
                       const MultiScaleCropOptions& options) {
  Require(width >= 1 && height >= 1 && !options.scales.empty() && input_size >= 1, "MultiScaleCrop",
          "frame size and input_size must be >= 1 and scales non-empty");
  const std::vector<std::pair<int, int>> pairs =
      MultiScaleCropPairs(width, height, input_size, options);
  Require(!pairs.empty(), "MultiScaleCrop", "max_distort must be >= 0");
  const auto [pair_w, pair_h] = pairs[rng.Below(pairs.size())];
  CropBox box;
  box.width = std::clamp(pair_w, 1, width);  // the header's one deviation
  box.height = std::clamp(pair_h, 1, height);
  const auto offsets = FixedCropOffsets(width, height, box.width, box.height);
  const auto [x, y] = offsets[rng.Below(offsets.size())];
  box.x = x;
  box.y = y;
  return box;
}

CropBox RandomResizedCrop(int width, int height, random::RandomStream& rng,
                          const RandomResizedCropOptions& options) {
  Require(width >= 1 && height >= 1 && options.min_ratio > 0 &&
              options.min_ratio <= options.max_ratio && options.min_scale <= options.max_scale,
          "RandomResizedCrop",
          "need a non-empty frame, 0 < min_ratio <= max_ratio, and "
          "min_scale <= max_scale");
  const double area = static_cast<double>(width) * height;
  const double log_lo = std::log(options.min_ratio);
  const double log_hi = std::log(options.max_ratio);
  for (int attempt = 0; attempt < options.attempts; ++attempt) {
    const double target_area = rng.Uniform(options.min_scale, options.max_scale) * area;
    const double aspect = std::exp(rng.Uniform(log_lo, log_hi));
    const int w = PyRound(std::sqrt(target_area * aspect));
    const int h = PyRound(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      CropBox box;
      box.width = w;
      box.height = h;
      box.y = static_cast<int>(rng.IntInclusive(0, height - h));
      box.x = static_cast<int>(rng.IntInclusive(0, width - w));
      return box;
    }
  }
  const double in_ratio = static_cast<double>(width) / height;
  CropBox box;
  box.width = width;
  box.height = height;
  if (in_ratio < options.min_ratio) {
    box.height = PyRound(width / options.min_ratio);
  } else if (in_ratio > options.max_ratio) {
    box.width = PyRound(height * options.max_ratio);
  }
  box.y = (height - box.height) / 2;  // both non-negative: floor division
  box.x = (width - box.width) / 2;
  return box;
}

bool Flip(random::RandomStream& rng) { return rng.Bernoulli(0.5); }

}  // namespace vmae::data
