#include "worker/data/augment/crop_params.h"

#include <cmath>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "common/random/counter_random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

random::RandomStream Stream(uint64_t epoch, uint64_t sample) {
  return random::RandomStream(random::StreamKey{99, random::Purpose::kSpatial, epoch, sample, 0});
}

MATCHER_P4(IsBox, x, y, w, h, "") {
  return arg.x == x && arg.y == y && arg.width == w && arg.height == h;
}

// Hand-worked for 340x256: base 256; int(256 * s) = 256, 224, 192, 168
// (256 * .66 = 168.96); none within 3 of 224 but 224 itself.
TEST(MultiScaleCropTest, PairsFor340x256) {
  EXPECT_THAT(MultiScaleCropPairs(340, 256, 224),
              ElementsAre(Pair(256, 256), Pair(224, 256),                  // h = 256
                          Pair(256, 224), Pair(224, 224), Pair(192, 224),  // h = 224
                          Pair(224, 192), Pair(192, 192), Pair(168, 192),  // h = 192
                          Pair(192, 168), Pair(168, 168)));                // h = 168
}

// Hand-worked for 320x240: 240, 210, 180, int(158.4) = 158.
TEST(MultiScaleCropTest, PairsFor320x240) {
  EXPECT_THAT(
      MultiScaleCropPairs(320, 240, 224),
      ElementsAre(Pair(240, 240), Pair(210, 240), Pair(240, 210), Pair(210, 210), Pair(180, 210),
                  Pair(210, 180), Pair(180, 180), Pair(158, 180), Pair(180, 158), Pair(158, 158)));
}

// Sizes within 2 pixels of input_size snap to it: base 226 gives 226 -> 224;
// int(226 * .875) = 197, int(169.5) = 169, int(149.16) = 149.
TEST(MultiScaleCropTest, SizesNearInputSizeSnap) {
  const auto pairs = MultiScaleCropPairs(300, 226, 224);
  ASSERT_EQ(pairs.size(), 10u);
  EXPECT_THAT(pairs[0], Pair(224, 224));
  EXPECT_THAT(pairs[4], Pair(169, 197));
  EXPECT_THAT(pairs[9], Pair(149, 149));
}

// Hand-worked: crop 224x192 of 340x256: w_step = 116 // 4 = 29,
// h_step = 64 // 4 = 16.
TEST(MultiScaleCropTest, FixedOffsetsInTheAuthorsOrder) {
  EXPECT_THAT(FixedCropOffsets(340, 256, 224, 192),
              ElementsAre(Pair(0, 0), Pair(116, 0), Pair(0, 64), Pair(116, 64), Pair(58, 32),
                          Pair(0, 32), Pair(116, 32), Pair(58, 64), Pair(58, 0), Pair(29, 16),
                          Pair(87, 16), Pair(29, 48), Pair(87, 48)));
  // Negative steps use floor division, as Python's //: (222 - 224) // 4 = -1.
  EXPECT_EQ(FixedCropOffsets(222, 300, 224, 224)[1], std::make_pair(-4, 0));
}

// Expected from augment_reference.py (the authors' code on the same stream).
TEST(MultiScaleCropTest, MatchesReference) {
  std::vector<CropBox> a, b;
  for (uint64_t s = 0; s < 6; ++s) {
    auto rng = Stream(0, s);
    a.push_back(MultiScaleCrop(340, 256, 224, rng));
    auto rng2 = Stream(0, s);
    b.push_back(MultiScaleCrop(320, 240, 224, rng2));
  }
  EXPECT_THAT(a,
              ElementsAre(IsBox(0, 0, 256, 256), IsBox(86, 0, 168, 192), IsBox(116, 0, 224, 224),
                          IsBox(29, 0, 224, 256), IsBox(0, 0, 192, 192), IsBox(0, 44, 192, 168)));
  EXPECT_THAT(b,
              ElementsAre(IsBox(0, 0, 240, 240), IsBox(80, 0, 158, 180), IsBox(108, 0, 210, 210),
                          IsBox(27, 0, 210, 240), IsBox(0, 0, 180, 180), IsBox(0, 40, 180, 158)));
}

// Over many draws every pair, and for each pair every distinct fixed offset
// (recomputed here from the formula), comes up, and nothing else does.
TEST(MultiScaleCropTest, ReachesEveryPairAndOffset) {
  std::set<std::tuple<int, int, int, int>> expected;
  for (const auto& [w, h] : MultiScaleCropPairs(340, 256, 224)) {
    const int ws = (340 - w) / 4;
    const int hs = (256 - h) / 4;
    const int k[13][2] = {{0, 0}, {4, 0}, {0, 4}, {4, 4}, {2, 2}, {0, 2}, {4, 2},
                          {2, 4}, {2, 0}, {1, 1}, {3, 1}, {1, 3}, {3, 3}};
    for (const auto& m : k) {
      expected.insert({m[0] * ws, m[1] * hs, w, h});
    }
  }
  std::set<std::tuple<int, int, int, int>> seen;
  for (uint64_t s = 0; s < 20000; ++s) {
    auto rng = Stream(3, s);
    const CropBox box = MultiScaleCrop(340, 256, 224, rng);
    ASSERT_GE(box.x, 0);
    ASSERT_GE(box.y, 0);
    ASSERT_LE(box.x + box.width, 340);
    ASSERT_LE(box.y + box.height, 256);
    seen.insert({box.x, box.y, box.width, box.height});
  }
  EXPECT_EQ(seen, expected);
}

// A short side of 222 snaps the scale-1 crop to 224 > 222: clamped.
TEST(MultiScaleCropTest, SnappedCropLargerThanFrameIsClamped) {
  for (uint64_t s = 0; s < 2000; ++s) {
    auto rng = Stream(4, s);
    const CropBox box = MultiScaleCrop(300, 222, 224, rng);
    ASSERT_GE(box.x, 0);
    ASSERT_GE(box.y, 0);
    ASSERT_LE(box.x + box.width, 300);
    ASSERT_LE(box.y + box.height, 222);
  }
}

TEST(RandomResizedCropTest, MatchesReference) {
  std::vector<CropBox> a, b;
  for (uint64_t s = 0; s < 6; ++s) {
    auto rng = Stream(1, s);
    a.push_back(RandomResizedCrop(320, 240, rng));
    auto rng2 = Stream(1, s);
    b.push_back(RandomResizedCrop(171, 128, rng2));
  }
  EXPECT_THAT(a,
              ElementsAre(IsBox(74, 10, 238, 221), IsBox(69, 8, 192, 213), IsBox(57, 47, 199, 160),
                          IsBox(9, 5, 171, 135), IsBox(14, 2, 240, 233), IsBox(105, 38, 165, 177)));
  EXPECT_THAT(b, ElementsAre(IsBox(40, 5, 127, 118), IsBox(37, 4, 103, 114), IsBox(31, 25, 106, 85),
                             IsBox(5, 3, 91, 72), IsBox(7, 1, 128, 124), IsBox(56, 20, 88, 95)));
}

TEST(RandomResizedCropTest, AreaAndAspectWithinBounds) {
  for (uint64_t s = 0; s < 5000; ++s) {
    auto rng = Stream(2, s);
    const CropBox box = RandomResizedCrop(320, 240, rng);
    ASSERT_GE(box.x, 0);
    ASSERT_GE(box.y, 0);
    ASSERT_LE(box.x + box.width, 320);
    ASSERT_LE(box.y + box.height, 240);
    // Rounding w and h moves the area by at most about (w + h) / 2 + 1/4.
    const double slack = (box.width + box.height) / 2.0 + 1;
    EXPECT_GE(box.width * box.height, 0.08 * 320 * 240 - slack);
    EXPECT_LE(box.width * box.height, 320 * 240);
    const double aspect = static_cast<double>(box.width) / box.height;
    // Rounding each side by 1/2 pixel moves the ratio by under 1/h + w/h^2.
    const double tol = 0.5 / box.height * (1 + aspect);
    EXPECT_GE(aspect, 0.75 - tol);
    EXPECT_LE(aspect, 4.0 / 3.0 + tol);
  }
}

// On a 400x400 frame with scales up to 0.5 every first attempt fits
// (largest side sqrt(0.5 * 160000 * 4/3) = 327), so the area fraction is
// Uniform(0.08, 0.5): four equal bins of 2500 expected (sd ~43) and a mean
// of 0.29; log(aspect) is uniform, so half the crops are wider than tall.
TEST(RandomResizedCropTest, ScaleIsUniform) {
  RandomResizedCropOptions options;
  options.max_scale = 0.5;
  std::vector<int> bins(4, 0);
  int wide = 0;
  double sum = 0;
  constexpr int kN = 10000;
  for (int s = 0; s < kN; ++s) {
    auto rng = Stream(7, s);
    const CropBox box = RandomResizedCrop(400, 400, rng, options);
    const double fraction = box.width * box.height / 160000.0;
    sum += fraction;
    const int bin = static_cast<int>((fraction - 0.08) / 0.105);
    ++bins[std::clamp(bin, 0, 3)];
    wide += box.width > box.height;
  }
  for (int count : bins) {
    EXPECT_NEAR(count, kN / 4, 250);
  }
  EXPECT_NEAR(sum / kN, 0.29, 0.01);
  EXPECT_NEAR(wide, kN / 2, 300);
}

// Hand-worked fallbacks: no 100x100 crop has a ratio in [2, 3] at scale 1,
// so the centre crop with the nearest ratio: w = 100, h = round(100 / 2) = 50.
TEST(RandomResizedCropTest, FallsBackToCentreCrop) {
  RandomResizedCropOptions wide;
  wide.min_scale = wide.max_scale = 1.0;
  wide.min_ratio = 2.0;
  wide.max_ratio = 3.0;
  auto rng = Stream(0, 0);
  EXPECT_THAT(RandomResizedCrop(100, 100, rng, wide), IsBox(0, 25, 100, 50));
  RandomResizedCropOptions tall = wide;
  tall.min_ratio = 0.25;
  tall.max_ratio = 0.5;
  EXPECT_THAT(RandomResizedCrop(100, 100, rng, tall), IsBox(25, 0, 50, 100));
  // Ratio 1 in range: the whole frame.
  RandomResizedCropOptions any = wide;
  any.min_scale = any.max_scale = 1.5;
  any.min_ratio = 0.5;
  any.max_ratio = 2.0;
  EXPECT_THAT(RandomResizedCrop(100, 100, rng, any), IsBox(0, 0, 100, 100));
}

TEST(FlipTest, HalfTheTime) {
  int flips = 0;
  for (int s = 0; s < 10000; ++s) {
    auto rng = Stream(9, s);
    flips += Flip(rng);
  }
  EXPECT_NEAR(flips, 5000, 250);  // sd 50
}

}  // namespace
}  // namespace vmae::data
