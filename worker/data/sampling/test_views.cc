#include "worker/data/sampling/test_views.h"

#include <algorithm>
#include <cstddef>

#include "worker/data/sampling/precondition.h"

namespace vmae::data {
namespace {

// p / q rounded to the nearest integer, halves up, for p >= 0 and q > 0;
// exact (no floating point), so the crop does not depend on the compiler.
int64_t RoundedRatio(int64_t p, int64_t q) { return (2 * p + q) / (2 * q); }

}  // namespace

std::vector<std::vector<int64_t>> KineticsTestViews(int64_t num_frames, int clip_len,
                                                    int frame_sample_rate, int test_clips) {
  Require(num_frames >= 1 && clip_len >= 1 && frame_sample_rate >= 1 && test_clips >= 1,
          "KineticsTestViews", "all sizes must be >= 1");
  std::vector<int64_t> all_index;
  for (int64_t f = 0; f < num_frames; f += frame_sample_rate) {
    all_index.push_back(f);
  }
  while (static_cast<int64_t>(all_index.size()) < clip_len) {
    all_index.push_back(all_index.back());
  }
  const double temporal_step =
      test_clips == 1
          ? 0.0
          : std::max(static_cast<double>(static_cast<int64_t>(all_index.size()) - clip_len) /
                         (test_clips - 1),
                     0.0);
  std::vector<std::vector<int64_t>> clips;
  for (int c = 0; c < test_clips; ++c) {
    const auto start = static_cast<size_t>(c * temporal_step);  // int() truncates
    const size_t end = std::min(all_index.size(), start + static_cast<size_t>(clip_len));
    clips.emplace_back(all_index.begin() + start, all_index.begin() + end);
  }
  return clips;
}

std::vector<std::vector<int64_t>> SsV2TestViews(int64_t num_frames, int num_segments,
                                                int test_clips) {
  Require(num_frames >= 1 && num_segments >= 1 && test_clips >= 1, "SsV2TestViews",
          "all sizes must be >= 1");
  const double tick = static_cast<double>(num_frames) / num_segments;
  std::vector<int64_t> centres;
  std::vector<int64_t> all_index;
  for (int x = 0; x < num_segments; ++x) {
    centres.push_back(static_cast<int64_t>(tick / 2.0 + tick * x));
  }
  all_index = centres;
  for (int x = 0; x < num_segments; ++x) {
    all_index.push_back(static_cast<int64_t>(tick * x));
  }
  std::vector<std::vector<int64_t>> clips;
  if (test_clips == 1) {
    clips.push_back(centres);
    return clips;
  }
  while (all_index.size() < static_cast<size_t>(num_segments) * test_clips) {
    all_index.push_back(all_index.back());
  }
  std::sort(all_index.begin(), all_index.end());
  for (int c = 0; c < test_clips; ++c) {
    std::vector<int64_t> frames;
    for (size_t i = c; i < all_index.size() && frames.size() < static_cast<size_t>(num_segments);
         i += test_clips) {
      frames.push_back(all_index[i]);
    }
    clips.push_back(std::move(frames));
  }
  return clips;
}

std::vector<TestCrop> TestCropOffsets(int width, int height, int short_side_size, int test_crops) {
  Require(width >= 1 && height >= 1 && short_side_size >= 1 && test_crops >= 1, "TestCropOffsets",
          "all sizes must be >= 1");
  const bool tall = height >= width;  // the authors crop along H when H >= W
  const int64_t long_side = tall ? height : width;
  const int64_t short_side = tall ? width : height;
  // get_resize_sizes: int(size * long / short); no resize when short == size.
  const int64_t resized_long = static_cast<int64_t>(short_side_size) * long_side / short_side;
  const double room = static_cast<double>(resized_long - short_side_size);
  std::vector<TestCrop> crops;
  for (int k = 0; k < test_crops; ++k) {
    const int64_t start = test_crops == 1 ? static_cast<int64_t>(room / 2)
                                          : static_cast<int64_t>(k * (room / (test_crops - 1)));
    int64_t lo = RoundedRatio(start * long_side, resized_long);
    int64_t hi = RoundedRatio((start + short_side_size) * long_side, resized_long);
    lo = std::clamp<int64_t>(lo, 0, long_side);
    hi = std::clamp<int64_t>(hi, lo, long_side);
    TestCrop crop;
    crop.out_width = short_side_size;
    crop.out_height = short_side_size;
    if (tall) {
      crop.box = CropBox{0, static_cast<int>(lo), width, static_cast<int>(hi - lo)};
    } else {
      crop.box = CropBox{static_cast<int>(lo), 0, static_cast<int>(hi - lo), height};
    }
    crops.push_back(crop);
  }
  return crops;
}

}  // namespace vmae::data
