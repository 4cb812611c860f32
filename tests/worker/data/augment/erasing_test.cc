#include "worker/data/augment/erasing.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "common/random/counter_random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

constexpr float kSentinel = 7.5f;

random::RandomStream Stream(uint64_t epoch, uint64_t sample) {
  return random::RandomStream(random::StreamKey{5, random::Purpose::kErasing, epoch, sample, 0});
}

struct ClipShape {
  int channels, frames, height, width;
};

size_t Index(const ClipShape& s, int c, int t, int y, int x) {
  return ((static_cast<size_t>(c) * s.frames + t) * s.height + y) * s.width + x;
}

std::vector<ErasedBox> Erase(std::vector<float>& clip, const ClipShape& s,
                             const ErasingOptions& options, random::RandomStream& rng) {
  EXPECT_EQ(clip.size(), static_cast<size_t>(s.channels) * s.frames * s.height * s.width);
  return RandomErasing(options, rng, clip.data(), s.channels, s.frames, s.height, s.width);
}

bool Inside(const ErasedBox& b, int t, int y, int x) {
  return b.frame == t && y >= b.top && y < b.top + b.height && x >= b.left && x < b.left + b.width;
}

// Expected from augment_reference.py (timm's _erase on the same stream):
// boxes and the first two noise values of each box (channel 0, row-major).
TEST(RandomErasingTest, MatchesReference) {
  const ClipShape shape{3, 16, 24, 32};
  std::vector<float> clip(3 * 16 * 24 * 32, kSentinel);
  auto rng = Stream(2, 11);
  const std::vector<ErasedBox> boxes = Erase(clip, shape, {}, rng);
  struct Expected {
    int frame, top, left, height, width;
    double n0, n1;
  };
  const std::vector<Expected> expected = {
      {0, 13, 7, 4, 5, -0.33468354254554616, -1.0400986454565246},
      {3, 15, 19, 6, 11, -2.033010581448766, -0.1084389700658991},
      {7, 5, 14, 19, 12, -0.087702289172650119, -1.6552001843509949},
      {12, 1, 3, 10, 21, 0.54338507763001676, 1.0661899851133965},
      {13, 1, 7, 16, 12, -0.0070471653803634406, 0.43105749905956464},
  };
  ASSERT_EQ(boxes.size(), expected.size());
  for (size_t i = 0; i < boxes.size(); ++i) {
    const Expected& e = expected[i];
    EXPECT_EQ(boxes[i].frame, e.frame);
    EXPECT_EQ(boxes[i].top, e.top);
    EXPECT_EQ(boxes[i].left, e.left);
    EXPECT_EQ(boxes[i].height, e.height);
    EXPECT_EQ(boxes[i].width, e.width);
    EXPECT_FLOAT_EQ(clip[Index(shape, 0, e.frame, e.top, e.left)], static_cast<float>(e.n0));
    EXPECT_FLOAT_EQ(clip[Index(shape, 0, e.frame, e.top, e.left + 1)], static_cast<float>(e.n1));
  }
}

// Over 2000 frames: about a quarter erased, boxes inside the frame with
// area and aspect in range, everything outside the boxes untouched and the
// noise inside ~N(0, 1).
TEST(RandomErasingTest, BoxStatisticsAndUntouchedPixels) {
  const ClipShape shape{3, 2000, 20, 24};
  std::vector<float> clip(static_cast<size_t>(3) * 2000 * 20 * 24, kSentinel);
  auto rng = Stream(0, 0);
  const std::vector<ErasedBox> boxes = Erase(clip, shape, {}, rng);
  // Binomial(2000, 0.25): mean 500, sd 19.4.
  EXPECT_NEAR(static_cast<double>(boxes.size()), 500, 80);
  std::vector<const ErasedBox*> by_frame(shape.frames, nullptr);
  for (const ErasedBox& b : boxes) {
    ASSERT_EQ(by_frame[b.frame], nullptr) << "two boxes in frame " << b.frame;
    by_frame[b.frame] = &b;
    EXPECT_GE(b.top, 0);
    EXPECT_GE(b.left, 0);
    EXPECT_LE(b.top + b.height, shape.height);
    EXPECT_LE(b.left + b.width, shape.width);
    EXPECT_LT(b.height, shape.height);
    EXPECT_LT(b.width, shape.width);
    // Area in [0.02, 1/3] of 480 = [9.6, 160], widened by rounding each side.
    const double area = b.height * b.width;
    EXPECT_GE(area, 9.6 - (b.height + b.width) / 2.0 - 0.25);
    EXPECT_LE(area, 160 + (b.height + b.width) / 2.0 + 0.25);
  }
  double sum = 0, sum_sq = 0;
  size_t filled = 0;
  for (int c = 0; c < 3; ++c) {
    for (int t = 0; t < shape.frames; ++t) {
      for (int y = 0; y < shape.height; ++y) {
        for (int x = 0; x < shape.width; ++x) {
          const float v = clip[Index(shape, c, t, y, x)];
          if (by_frame[t] != nullptr && Inside(*by_frame[t], t, y, x)) {
            sum += v;
            sum_sq += static_cast<double>(v) * v;
            ++filled;
          } else {
            ASSERT_EQ(v, kSentinel) << "c=" << c << " t=" << t << " y=" << y << " x=" << x;
          }
        }
      }
    }
  }
  ASSERT_GT(filled, 10000u);
  const double mean = sum / filled;
  EXPECT_NEAR(mean, 0.0, 5 / std::sqrt(filled));
  EXPECT_NEAR(sum_sq / filled - mean * mean, 1.0, 5 * std::sqrt(2.0 / filled));
}

TEST(RandomErasingTest, SameStreamGivesSameClip) {
  const ClipShape shape{3, 8, 16, 16};
  std::vector<float> a(3 * 8 * 16 * 16, 0.0f);
  std::vector<float> b = a;
  auto rng_a = Stream(1, 42);
  auto rng_b = Stream(1, 42);
  ErasingOptions options;
  options.probability = 1.0;
  Erase(a, shape, options, rng_a);
  Erase(b, shape, options, rng_b);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, std::vector<float>(a.size(), 0.0f));
}

TEST(RandomErasingTest, ZeroProbabilityLeavesClipAlone) {
  const ClipShape shape{3, 8, 16, 16};
  std::vector<float> clip(3 * 8 * 16 * 16, kSentinel);
  ErasingOptions options;
  options.probability = 0.0;
  auto rng = Stream(1, 1);
  EXPECT_TRUE(Erase(clip, shape, options, rng).empty());
  EXPECT_EQ(clip, std::vector<float>(clip.size(), kSentinel));
}

TEST(RandomErasingTest, SeveralBoxesPerFrame) {
  const ClipShape shape{1, 200, 32, 32};
  std::vector<float> clip(200 * 32 * 32, kSentinel);
  ErasingOptions options;
  options.probability = 1.0;
  options.max_count = 3;
  auto rng = Stream(6, 0);
  const std::vector<ErasedBox> boxes = Erase(clip, shape, options, rng);
  std::vector<int> per_frame(200, 0);
  for (const ErasedBox& b : boxes) {
    ++per_frame[b.frame];
  }
  // count = IntInclusive(1, 3) per frame; mean 2 (a few attempts may miss).
  EXPECT_NEAR(static_cast<double>(boxes.size()) / 200, 2.0, 0.25);
  EXPECT_LE(*std::max_element(per_frame.begin(), per_frame.end()), 3);
}

}  // namespace
}  // namespace vmae::data
