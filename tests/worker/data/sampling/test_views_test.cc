#include "worker/data/sampling/test_views.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::vector<int64_t> Range(int64_t start, int64_t step, int count) {
  std::vector<int64_t> out;
  for (int i = 0; i < count; ++i) {
    out.push_back(start + step * i);
  }
  return out;
}

// Expected from sampling_reference.py; by hand for N = 300: all_index has
// 75 entries, temporal_step = (75 - 16) / 4 = 14.75, starts 0, 14, 29, 44, 59.
TEST(KineticsTestViewsTest, MatchesReference) {
  EXPECT_THAT(KineticsTestViews(300, 16, 4, 5),
              ElementsAre(Range(0, 4, 16), Range(56, 4, 16), Range(116, 4, 16), Range(176, 4, 16),
                          Range(236, 4, 16)));
  EXPECT_THAT(KineticsTestViews(100, 16, 4, 5),
              ElementsAre(Range(0, 4, 16), Range(8, 4, 16), Range(16, 4, 16), Range(24, 4, 16),
                          Range(36, 4, 16)));
  EXPECT_THAT(KineticsTestViews(250, 16, 2, 3),
              ElementsAre(Range(0, 2, 16), Range(108, 2, 16), Range(218, 2, 16)));
}

TEST(KineticsTestViewsTest, ShortVideoPadsWithItsLastFrame) {
  std::vector<int64_t> padded = Range(0, 4, 10);  // 0..36
  padded.resize(16, 36);
  for (const std::vector<int64_t>& frames : KineticsTestViews(40, 16, 4, 5)) {
    EXPECT_EQ(frames, padded);
  }
}

TEST(KineticsTestViewsTest, OneClipStartsAtZero) {
  const std::vector<std::vector<int64_t>> views = KineticsTestViews(300, 16, 4, 1);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0], Range(0, 4, 16));
}

TEST(SsV2TestViewsTest, MatchesReference) {
  EXPECT_THAT(SsV2TestViews(48, 16, 2), ElementsAre(Range(0, 3, 16), Range(1, 3, 16)));
  EXPECT_THAT(
      SsV2TestViews(50, 16, 2),
      ElementsAre(ElementsAre(0, 3, 6, 9, 12, 15, 18, 21, 25, 28, 31, 34, 37, 40, 43, 46),
                  ElementsAre(1, 4, 7, 10, 14, 17, 20, 23, 26, 29, 32, 35, 39, 42, 45, 48)));
  EXPECT_THAT(SsV2TestViews(20, 16, 2),
              ElementsAre(ElementsAre(0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13, 15, 16, 17, 18),
                          ElementsAre(0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 13, 14, 15, 16, 18, 19)));
  EXPECT_THAT(SsV2TestViews(10, 16, 2),
              ElementsAre(ElementsAre(0, 0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9),
                          ElementsAre(0, 0, 1, 2, 2, 3, 4, 4, 5, 5, 6, 7, 7, 8, 9, 9)));
}

// Hand-worked: tick = 3, centres int(1.5 + 3x) = 1, 4, ..., 46.
TEST(SsV2TestViewsTest, OneClipTakesSegmentCentres) {
  const std::vector<std::vector<int64_t>> views = SsV2TestViews(48, 16, 1);
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0], Range(1, 3, 16));
}

// Hand-worked for 3 clips of N = 48: centres 1, 4, ..., 46 then starts 0,
// 3, ..., 45; padded to 48 with the last entry (45), then sorted: 0, 1, 3,
// 4, ..., 42, 43, then seventeen 45s, then 46. Clip c takes [c::3]. (The
// same vectors come out of sampling_reference.py's ssv2_test(48, 16, 3).)
TEST(SsV2TestViewsTest, ThreeClipsTakeEveryThirdEntry) {
  std::vector<int64_t> all;
  for (int x = 0; x < 15; ++x) {
    all.push_back(3 * x);
    all.push_back(3 * x + 1);
  }
  all.resize(47, 45);
  all.push_back(46);
  const std::vector<std::vector<int64_t>> views = SsV2TestViews(48, 16, 3);
  ASSERT_EQ(views.size(), 3u);
  for (int c = 0; c < 3; ++c) {
    std::vector<int64_t> expected;
    for (int i = c; i < 48; i += 3) {
      expected.push_back(all[i]);
    }
    EXPECT_EQ(views[c], expected) << "clip " << c;
  }
  EXPECT_THAT(views[2], ElementsAre(3, 7, 12, 16, 21, 25, 30, 34, 39, 43, 45, 45, 45, 45, 45, 46));
}

MATCHER_P6(IsCrop, x, y, w, h, ow, oh, "") {
  return arg.box.x == x && arg.box.y == y && arg.box.width == w && arg.box.height == h &&
         arg.out_width == ow && arg.out_height == oh;
}

// Expected from sampling_reference.py (the authors' resize sizes and crop
// starts, mapped back to source pixels). By hand for 340x256: resized to
// 297x224, spatial_step 36.5, starts 0, 36, 73; 36 * 340 / 297 = 41.2 -> 41,
// (36 + 224) * 340 / 297 = 297.6 -> 298.
TEST(TestCropOffsetsTest, MatchesReference) {
  EXPECT_THAT(TestCropOffsets(340, 256, 224, 3),
              ElementsAre(IsCrop(0, 0, 256, 256, 224, 224), IsCrop(41, 0, 257, 256, 224, 224),
                          IsCrop(84, 0, 256, 256, 224, 224)));
  EXPECT_THAT(TestCropOffsets(320, 240, 224, 3),
              ElementsAre(IsCrop(0, 0, 241, 240, 224, 224), IsCrop(40, 0, 240, 240, 224, 224),
                          IsCrop(79, 0, 241, 240, 224, 224)));
  EXPECT_THAT(TestCropOffsets(256, 340, 224, 3),
              ElementsAre(IsCrop(0, 0, 256, 256, 224, 224), IsCrop(0, 41, 256, 257, 224, 224),
                          IsCrop(0, 84, 256, 256, 224, 224)));
  EXPECT_THAT(TestCropOffsets(455, 256, 224, 3),
              ElementsAre(IsCrop(0, 0, 256, 256, 224, 224), IsCrop(99, 0, 257, 256, 224, 224),
                          IsCrop(199, 0, 256, 256, 224, 224)));
  EXPECT_THAT(TestCropOffsets(640, 360, 224, 3),
              ElementsAre(IsCrop(0, 0, 360, 360, 224, 224), IsCrop(140, 0, 360, 360, 224, 224),
                          IsCrop(280, 0, 360, 360, 224, 224)));
}

TEST(TestCropOffsetsTest, SquareFrameGivesTheWholeFrame) {
  for (const TestCrop& crop : TestCropOffsets(224, 224, 224, 3)) {
    EXPECT_THAT(crop, IsCrop(0, 0, 224, 224, 224, 224));
  }
}

// Hand-worked: 340x256 resizes to 297x224; centre start (297 - 224) / 2 =
// 36 -> source [41.2, 297.6) -> x 41, width 257.
TEST(TestCropOffsetsTest, OneCropIsCentred) {
  EXPECT_THAT(TestCropOffsets(340, 256, 224, 1), ElementsAre(IsCrop(41, 0, 257, 256, 224, 224)));
}

TEST(TestCropOffsetsTest, CropsStayInsideTheFrame) {
  for (int w : {100, 224, 341, 640, 1920}) {
    for (int h : {90, 224, 257, 480, 1080}) {
      for (const TestCrop& crop : TestCropOffsets(w, h, 224, 3)) {
        EXPECT_GE(crop.box.x, 0);
        EXPECT_GE(crop.box.y, 0);
        EXPECT_GT(crop.box.width, 0);
        EXPECT_GT(crop.box.height, 0);
        EXPECT_LE(crop.box.x + crop.box.width, w) << w << "x" << h;
        EXPECT_LE(crop.box.y + crop.box.height, h) << w << "x" << h;
      }
    }
  }
}

}  // namespace
}  // namespace vmae::data
