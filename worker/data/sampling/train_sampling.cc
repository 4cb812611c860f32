#include "worker/data/sampling/train_sampling.h"

#include <algorithm>
#include <cstddef>

#include "worker/data/sampling/linspace.h"
#include "worker/data/sampling/precondition.h"

namespace vmae::data {
namespace {

// numpy.random.randint(n) for n > 0.
int64_t RandInt(random::RandomStream& rng, int64_t n) {
  return static_cast<int64_t>(rng.Below(static_cast<uint64_t>(n)));
}

}  // namespace

std::vector<int64_t> StrideSampling(int64_t num_frames, int clip_len, int stride,
                                    random::RandomStream& rng) {
  Require(num_frames >= 1 && clip_len >= 1 && stride >= 1, "StrideSampling",
          "num_frames, clip_len and stride must be >= 1");
  const int64_t skip_length = static_cast<int64_t>(clip_len) * stride;
  const int64_t average_duration = num_frames - skip_length + 1;  // one segment: // 1
  int64_t start = 0;
  if (average_duration > 0) {
    start = RandInt(rng, average_duration);
  } else if (num_frames > std::max<int64_t>(1, skip_length)) {
    // The authors' second branch; unreachable with one segment (it needs
    // N >= skip and N < skip at once) but kept so the code reads like theirs.
    start = RandInt(rng, num_frames - skip_length + 1);
  }
  std::vector<int64_t> frames;
  frames.reserve(static_cast<size_t>(clip_len));
  int64_t offset = start + 1;  // the authors' 1-based offsets
  for (int i = 0; i < clip_len; ++i) {
    // Their `offset + skip_offsets[i] <= duration` always holds here (no
    // temporal jitter, so skip_offsets are 0 and offset never passes N).
    frames.push_back(offset - 1);
    if (offset + stride < num_frames) {
      offset += stride;
    }
  }
  return frames;
}

std::vector<int64_t> DenseSampling(int64_t num_frames, int clip_len, int frame_sample_rate,
                                   int num_segment, random::RandomStream& rng) {
  Require(num_frames >= num_segment && clip_len >= 1 && frame_sample_rate >= 1 && num_segment >= 1,
          "DenseSampling",
          "need num_frames >= num_segment >= 1, clip_len >= 1 and frame_sample_rate >= 1");
  const int64_t converted_len = static_cast<int64_t>(clip_len) * frame_sample_rate;
  const int64_t seg_len = num_frames / num_segment;
  std::vector<int64_t> all_index;
  all_index.reserve(static_cast<size_t>(clip_len) * num_segment);
  for (int i = 0; i < num_segment; ++i) {
    std::vector<double> index;
    double lo = 0;
    double hi = 0;
    if (seg_len <= converted_len) {
      index = NumpyLinspace(0, static_cast<double>(seg_len), seg_len / frame_sample_rate);
      // np.concatenate with ones(clip_len - seg_len // rate) * seg_len.
      index.resize(static_cast<size_t>(clip_len), static_cast<double>(seg_len));
      lo = 0;
      hi = static_cast<double>(seg_len - 1);
    } else {
      // np.random.randint(converted_len, seg_len): low inclusive, high exclusive.
      const int64_t end_idx = converted_len + RandInt(rng, seg_len - converted_len);
      const int64_t str_idx = end_idx - converted_len;
      index = NumpyLinspace(static_cast<double>(str_idx), static_cast<double>(end_idx), clip_len);
      lo = static_cast<double>(str_idx);
      hi = static_cast<double>(end_idx - 1);
    }
    for (double v : index) {
      // np.clip(lo, hi) then astype(np.int64), which truncates toward zero.
      const double clipped = std::min(std::max(v, lo), hi);
      all_index.push_back(static_cast<int64_t>(clipped) + i * seg_len);
    }
  }
  return all_index;
}

std::vector<int64_t> SegmentSampling(int64_t num_frames, int num_segments,
                                     random::RandomStream& rng) {
  Require(num_frames >= 1 && num_segments >= 1, "SegmentSampling",
          "num_frames and num_segments must be >= 1");
  const int64_t average_duration = num_frames / num_segments;
  std::vector<int64_t> frames(static_cast<size_t>(num_segments), 0);
  if (average_duration > 0) {
    for (int i = 0; i < num_segments; ++i) {
      frames[i] = i * average_duration + RandInt(rng, average_duration);
    }
  } else if (num_frames > num_segments) {
    // Unreachable (average_duration == 0 means N < num_segments); the
    // authors' code has it, so it stays: sorted randint(N, size=num_segments).
    for (int64_t& f : frames) {
      f = RandInt(rng, num_frames);
    }
    std::sort(frames.begin(), frames.end());
  }
  return frames;
}

}  // namespace vmae::data
