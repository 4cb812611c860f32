#include "worker/data/sampling/train_sampling.h"

#include <cstdint>
#include <set>
#include <vector>

#include "common/random/counter_random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Eq;

// The stream sampling_reference.py uses: sample = the video's frame count.
random::RandomStream Stream(int64_t sample) {
  return random::RandomStream(
      random::StreamKey{1234, random::Purpose::kTemporal, 5, static_cast<uint64_t>(sample), 0});
}

std::vector<int64_t> Repeat(std::vector<int64_t> head, int64_t value, size_t size) {
  head.resize(size, value);
  return head;
}

// Hand-worked: skip = 64 > N, so start = 0; the offset advances while
// offset + 4 < 10 (1 -> 5 -> 9), then the last frame repeats.
TEST(StrideSamplingTest, ShortVideoRepeatsItsLastSampledFrame) {
  auto rng = Stream(10);
  EXPECT_THAT(StrideSampling(10, 16, 4, rng), ElementsAreArray(Repeat({0, 4, 8}, 8, 16)));
  // N = 9: 1 -> 5, then 5 + 4 = 9 is not < 9.
  auto rng9 = Stream(9);
  EXPECT_THAT(StrideSampling(9, 16, 4, rng9), ElementsAreArray(Repeat({0, 4}, 4, 16)));
  auto one = Stream(1);
  EXPECT_THAT(StrideSampling(1, 16, 4, one), Each(Eq(0)));
}

// Hand-worked: N = 64 = skip, so average_duration = 1 and Below(1) = 0:
// every 4th frame from 0; the last step (61 + 4 = 65) is not taken.
TEST(StrideSamplingTest, ExactFitStartsAtZero) {
  auto rng = Stream(64);
  EXPECT_THAT(StrideSampling(64, 16, 4, rng),
              ElementsAre(0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60));
}

// Expected vectors from sampling_reference.py (the authors' code in numpy).
TEST(StrideSamplingTest, MatchesReference) {
  auto a = Stream(300);
  EXPECT_THAT(StrideSampling(300, 16, 4, a), ElementsAre(228, 232, 236, 240, 244, 248, 252, 256,
                                                         260, 264, 268, 272, 276, 280, 284, 288));
  auto b = Stream(65);
  EXPECT_THAT(StrideSampling(65, 16, 4, b),
              ElementsAre(1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61));
  auto c = Stream(100);
  EXPECT_THAT(StrideSampling(100, 16, 2, c),
              ElementsAre(53, 55, 57, 59, 61, 63, 65, 67, 69, 71, 73, 75, 77, 79, 81, 83));
  auto d = Stream(40);
  EXPECT_THAT(StrideSampling(40, 16, 2, d),
              ElementsAre(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
}

TEST(StrideSamplingTest, StartIsUniformOverValidStarts) {
  // N = 70, skip 64: starts 0..6, each ~1/7 of 7000 draws (sd ~29).
  std::vector<int> counts(7, 0);
  for (int s = 0; s < 7000; ++s) {
    auto rng = Stream(1000 + s);
    const std::vector<int64_t> f = StrideSampling(70, 16, 4, rng);
    ASSERT_LT(f[0], 7);
    ASSERT_EQ(f[15] - f[0], 60);
    ++counts[f[0]];
  }
  for (int c : counts) {
    EXPECT_NEAR(c, 1000, 150);
  }
}

// Hand-worked: seg_len 30 <= 64, linspace(0, 30, 30 // 4 = 7) = 0, 5, ..., 30,
// padded with 30, clipped to 29.
TEST(DenseSamplingTest, ShortVideoSpreadsOverItselfAndPads) {
  auto rng = Stream(30);
  EXPECT_THAT(DenseSampling(30, 16, 4, 1, rng),
              ElementsAreArray(Repeat({0, 5, 10, 15, 20, 25}, 29, 16)));
  // seg_len 3 < rate: linspace with num 0, all padding: seg_len clipped to 2.
  auto tiny = Stream(3);
  EXPECT_THAT(DenseSampling(3, 16, 4, 1, tiny), Each(Eq(2)));
}

TEST(DenseSamplingTest, MatchesReference) {
  auto a = Stream(300);
  EXPECT_THAT(DenseSampling(300, 16, 4, 1, a), ElementsAre(227, 231, 235, 239, 244, 248, 252, 256,
                                                           261, 265, 269, 273, 278, 282, 286, 290));
  auto b = Stream(65);
  EXPECT_THAT(DenseSampling(65, 16, 4, 1, b),
              ElementsAre(0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63));
  auto c = Stream(64);
  EXPECT_THAT(DenseSampling(64, 16, 4, 1, c),
              ElementsAre(0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63));
  auto d = Stream(50);
  EXPECT_THAT(DenseSampling(50, 16, 4, 1, d),
              ElementsAreArray(Repeat({0, 4, 9, 13, 18, 22, 27, 31, 36, 40, 45}, 49, 16)));
  auto e = Stream(300);
  EXPECT_THAT(
      DenseSampling(300, 16, 2, 2, e),
      ElementsAre(113, 115, 117, 119, 121, 123, 125, 127, 130, 132, 134, 136, 138, 140, 142, 144,
                  223, 225, 227, 229, 231, 233, 235, 237, 240, 242, 244, 246, 248, 250, 252, 254));
  auto f = Stream(250);
  EXPECT_THAT(DenseSampling(250, 16, 5, 1, f), ElementsAre(161, 166, 171, 177, 182, 187, 193, 198,
                                                           203, 209, 214, 219, 225, 230, 235, 240));
}

TEST(DenseSamplingTest, WindowStaysInsideTheVideo) {
  for (int s = 0; s < 2000; ++s) {
    auto rng = Stream(5000 + s);
    const std::vector<int64_t> f = DenseSampling(100, 16, 4, 1, rng);
    ASSERT_EQ(f.size(), 16u);
    // end_idx in [64, 100): the window [end - 64, end - 1].
    EXPECT_GE(f.front(), 0);
    EXPECT_LE(f.front(), 35);
    EXPECT_LE(f.back(), 99);
    EXPECT_EQ(f.back() - f.front(), 63);
  }
}

// Hand-worked: N = 16 = num_segments, so average_duration = 1 and each
// Below(1) is 0; N < num_segments gives all zeros.
TEST(SegmentSamplingTest, ShortVideos) {
  auto rng = Stream(16);
  EXPECT_THAT(SegmentSampling(16, 16, rng),
              ElementsAre(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
  auto short_rng = Stream(12);
  EXPECT_THAT(SegmentSampling(12, 16, short_rng), ElementsAreArray(std::vector<int64_t>(16, 0)));
}

TEST(SegmentSamplingTest, MatchesReference) {
  auto a = Stream(37);
  EXPECT_THAT(SegmentSampling(37, 16, a),
              ElementsAre(1, 2, 4, 6, 8, 10, 13, 14, 17, 19, 21, 23, 25, 27, 28, 31));
  auto b = Stream(100);
  EXPECT_THAT(SegmentSampling(100, 16, b),
              ElementsAre(4, 10, 15, 20, 24, 31, 36, 47, 50, 58, 64, 67, 77, 81, 89, 91));
  auto c = Stream(200);
  EXPECT_THAT(SegmentSampling(200, 16, c),
              ElementsAre(9, 19, 34, 42, 55, 60, 78, 93, 107, 109, 129, 138, 155, 167, 174, 190));
}

TEST(SegmentSamplingTest, EachFrameLiesInItsSegment) {
  for (int s = 0; s < 500; ++s) {
    auto rng = Stream(s);
    const std::vector<int64_t> f = SegmentSampling(103, 16, rng);  // segments of 6
    for (int i = 0; i < 16; ++i) {
      EXPECT_GE(f[i], 6 * i);
      EXPECT_LT(f[i], 6 * (i + 1));
    }
  }
}

TEST(TrainSamplingTest, SameStreamGivesSameFrames) {
  auto a = Stream(777);
  auto b = Stream(777);
  EXPECT_EQ(DenseSampling(777, 16, 4, 1, a), DenseSampling(777, 16, 4, 1, b));
  EXPECT_EQ(SegmentSampling(777, 16, a), SegmentSampling(777, 16, b));
  EXPECT_EQ(StrideSampling(777, 16, 4, a), StrideSampling(777, 16, 4, b));
}

}  // namespace
}  // namespace vmae::data
