#include "worker/data/augment/rand_augment.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/random/counter_random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "worker/data/augment/rand_augment_ops.h"

namespace vmae::data {
namespace {

using ::vmae::random::Purpose;
using ::vmae::random::RandomStream;
using ::vmae::random::StreamKey;
using ::vmae::testing::StatusIs;
using Image = std::vector<uint8_t>;

constexpr Rgb kFill = {124, 116, 104};

RandomStream Stream(uint64_t sample, uint64_t seed = 7) {
  StreamKey key;
  key.seed = seed;
  key.purpose = Purpose::kRandAugment;
  key.epoch = 3;
  key.sample = sample;
  return RandomStream(key);
}

// A test picture with structure (gradients, edges) and noise; each channel
// covers a different part of [0, 255], so autocontrast and equalize act.
Image MakePicture(int height, int width, uint32_t seed) {
  Image img(static_cast<size_t>(height) * width * 3);
  uint32_t s = seed * 2654435761u + 1;
  auto noise = [&s]() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* px = &img[(static_cast<size_t>(y) * width + x) * 3];
      px[0] = static_cast<uint8_t>(40 + (x * 5 + y * 3) % 120 + noise() % 16);
      px[1] = static_cast<uint8_t>(noise() % 256);
      px[2] = static_cast<uint8_t>(x < width / 2 ? 90 + (x * x + y) % 40 : 200);
    }
  }
  return img;
}

// An image whose pixels all come from one (r, g, b) list, row-major.
Image FromPixels(const std::vector<Rgb>& pixels) {
  Image img;
  for (const Rgb& p : pixels) {
    img.insert(img.end(), p.begin(), p.end());
  }
  return img;
}

const uint8_t* Px(const Image& img, int width, int x, int y) {
  return &img[(static_cast<size_t>(y) * width + x) * 3];
}

// ---- Parsing ----

TEST(RandAugmentTest, ParsesVideoMaeSpec) {
  auto config = ParseRandAugment("rand-m7-n4-mstd0.5-inc1", 224);
  ASSERT_OK(config);
  EXPECT_EQ(config->magnitude, 7);
  EXPECT_EQ(config->num_layers, 4);
  EXPECT_DOUBLE_EQ(config->magnitude_std, 0.5);
  EXPECT_TRUE(config->increasing);
  EXPECT_DOUBLE_EQ(config->prob, 0.5);
  EXPECT_EQ(config->translate_const, 100);  // int(224 * 0.45) = int(100.8)
  EXPECT_EQ(config->fill, kFill);
}

TEST(RandAugmentTest, ParsesOtherSections) {
  auto config = ParseRandAugment("rand-n2-m9", 160);
  ASSERT_OK(config);
  EXPECT_EQ(config->magnitude, 9);
  EXPECT_EQ(config->num_layers, 2);
  EXPECT_EQ(config->translate_const, 72);  // int(160 * 0.45) = int(72.0)

  auto plain = ParseRandAugment("rand-m5-inc0", 224);
  ASSERT_OK(plain);
  EXPECT_FALSE(plain->increasing);

  auto uniform = ParseRandAugment("rand-m9-mstd101", 224);
  ASSERT_OK(uniform);
  EXPECT_TRUE(std::isinf(uniform->magnitude_std));

  auto bare = ParseRandAugment("rand", 224);
  ASSERT_OK(bare);
  EXPECT_EQ(bare->num_layers, 4);
}

TEST(RandAugmentTest, ParseErrorsNameTheBadSection) {
  EXPECT_THAT(ParseRandAugment("rand-m7-x3", 224),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"x3\""));
  EXPECT_THAT(ParseRandAugment("rand-m7a-n4", 224),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"m7a\""));
  EXPECT_THAT(ParseRandAugment("rand-m7-inc", 224),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"inc\""));
  EXPECT_THAT(ParseRandAugment("rand-mstd0.5x", 224),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"mstd0.5x\""));
  EXPECT_THAT(ParseRandAugment("rand-m7-m8", 224),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"m8\""));
  EXPECT_THAT(ParseRandAugment("augmix-m7", 224),
              StatusIs(absl::StatusCode::kInvalidArgument, "must start with \"rand\""));
  EXPECT_THAT(ParseRandAugment("rand-m7-w0", 224),
              StatusIs(absl::StatusCode::kUnimplemented, "\"w0\""));
  EXPECT_THAT(ParseRandAugment("rand-m7", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "image size"));
}

// ---- Point ops on hand-worked images ----

TEST(RandAugmentTest, EqualizeUsesPillowLut) {
  // 32x32: R has 256 pixels each of 10, 50, 100, 200: step = (1024 - 256) / 255
  // = 3, n starts at 1: lut[10] = 1 / 3 = 0, lut[50] = 257 / 3 = 85,
  // lut[100] = 513 / 3 = 171, lut[200] = 769 / 3 = 256, clipped to 255.
  // G is one value (left alone). B: 300 x 5, 300 x 6, 424 x 7: step = 600 /
  // 255 = 2: lut[5] = 1 / 2 = 0, lut[6] = 301 / 2 = 150, lut[7] = 601 / 2 -> 255.
  std::vector<Rgb> pixels;
  const uint8_t r_values[] = {10, 50, 100, 200};
  for (int i = 0; i < 1024; ++i) {
    const uint8_t b = i < 300 ? 5 : (i < 600 ? 6 : 7);
    pixels.push_back({r_values[i / 256], 77, b});
  }
  Image img = FromPixels(pixels);
  Equalize(img.data(), 32, 32);
  const std::map<int, int> r_map = {{10, 0}, {50, 85}, {100, 171}, {200, 255}};
  const std::map<int, int> b_map = {{5, 0}, {6, 150}, {7, 255}};
  for (int i = 0; i < 1024; ++i) {
    EXPECT_EQ(img[i * 3], r_map.at(pixels[i][0])) << i;
    EXPECT_EQ(img[i * 3 + 1], 77) << i;
    EXPECT_EQ(img[i * 3 + 2], b_map.at(pixels[i][2])) << i;
  }
}

TEST(RandAugmentTest, AutoContrastStretchesEachChannel) {
  // R spans [51, 102]: scale 255 / 51 = 5, offset -255: 51 -> 0, 60 -> 45,
  // 102 -> 255. G has one value (left alone). B spans [0, 51]: 10 -> 50.
  Image img = FromPixels({{51, 9, 0}, {60, 9, 10}, {102, 9, 51}, {51, 9, 0}});
  AutoContrast(img.data(), 2, 2);
  EXPECT_EQ(img, FromPixels({{0, 9, 0}, {45, 9, 50}, {255, 9, 255}, {0, 9, 0}}));
}

TEST(RandAugmentTest, InvertPosterizeSolarize) {
  const Image in = FromPixels({{0, 127, 128}, {200, 255, 63}});
  Image img = in;
  Invert(img.data(), 1, 2);
  EXPECT_EQ(img, FromPixels({{255, 128, 127}, {55, 0, 192}}));

  img = in;
  Posterize(img.data(), 1, 2, 2);  // keep 0b11000000
  EXPECT_EQ(img, FromPixels({{0, 64, 128}, {192, 192, 0}}));
  img = in;
  Posterize(img.data(), 1, 2, 0);
  EXPECT_EQ(img, FromPixels({{0, 0, 0}, {0, 0, 0}}));
  img = in;
  Posterize(img.data(), 1, 2, 8);
  EXPECT_EQ(img, in);

  img = in;
  Solarize(img.data(), 1, 2, 128);  // v >= 128 -> 255 - v
  EXPECT_EQ(img, FromPixels({{0, 127, 127}, {55, 0, 63}}));
  img = in;
  Solarize(img.data(), 1, 2, 256);
  EXPECT_EQ(img, in);

  img = in;
  SolarizeAdd(img.data(), 1, 2, 77);  // v < 128 -> min(255, v + 77)
  EXPECT_EQ(img, FromPixels({{77, 204, 128}, {200, 255, 140}}));
  img = in;
  SolarizeAdd(img.data(), 1, 2, 200);
  EXPECT_EQ(img, FromPixels({{200, 255, 128}, {200, 255, 255}}));
}

TEST(RandAugmentTest, EnhanceBlendsTruncateLikePillow) {
  // Brightness: v * factor, truncated and clipped.
  Image img = FromPixels({{255, 3, 200}, {101, 0, 1}});
  Brightness(img.data(), 1, 2, 0.5);
  EXPECT_EQ(img, FromPixels({{127, 1, 100}, {50, 0, 0}}));
  img = FromPixels({{255, 3, 200}, {101, 0, 1}});
  Brightness(img.data(), 1, 2, 1.5);
  EXPECT_EQ(img, FromPixels({{255, 4, 255}, {151, 0, 1}}));

  // Contrast: gray 100 and 200 have L = 100, 200 (the weights sum to 65536),
  // mean 150: 150 + f * (v - 150).
  img = FromPixels({{100, 100, 100}, {200, 200, 200}});
  Contrast(img.data(), 1, 2, 0.5);
  EXPECT_EQ(img, FromPixels({{125, 125, 125}, {175, 175, 175}}));
  img = FromPixels({{100, 100, 100}, {200, 200, 200}});
  Contrast(img.data(), 1, 2, 2.0);
  EXPECT_EQ(img, FromPixels({{50, 50, 50}, {250, 250, 250}}));

  // Color: L(255, 0, 0) = (255 * 19595 + 32768) >> 16 = 76; 76 + 0.5 * 179 =
  // 165.5 -> 165, 76 - 0.5 * 76 = 38. Gray pixels do not change.
  img = FromPixels({{255, 0, 0}, {100, 100, 100}});
  Color(img.data(), 1, 2, 0.5);
  EXPECT_EQ(img, FromPixels({{165, 38, 38}, {100, 100, 100}}));
  img = FromPixels({{255, 0, 0}, {100, 100, 100}});
  Color(img.data(), 1, 2, 0.0);
  EXPECT_EQ(img, FromPixels({{76, 76, 76}, {100, 100, 100}}));
}

TEST(RandAugmentTest, SharpnessBlendsWithSmoothKeepingBorders) {
  // 3x3 black with 130 in the centre: SMOOTH gives 130 * 5 / 13 + 0.5 ->
  // 50 at the centre; border pixels are never filtered.
  std::vector<Rgb> pixels(9, Rgb{0, 0, 0});
  pixels[4] = {130, 130, 130};
  const Image in = FromPixels(pixels);
  Image out(in.size());
  Sharpness(in.data(), out.data(), 3, 3, 0.0);
  pixels[4] = {50, 50, 50};
  EXPECT_EQ(out, FromPixels(pixels));
  Sharpness(in.data(), out.data(), 3, 3, 2.0);  // 50 + 2 * (130 - 50)
  pixels[4] = {210, 210, 210};
  EXPECT_EQ(out, FromPixels(pixels));
}

// ---- Geometric ops with exactly known results ----

class RandAugmentGeometryTest : public ::testing::TestWithParam<Resample> {};

TEST_P(RandAugmentGeometryTest, IntegerTranslationMovesPixelsAndFills) {
  const int h = 9, w = 11;
  const Image in = MakePicture(h, w, 1);
  Image out(in.size());
  TranslateX(in.data(), out.data(), h, w, 3.0, GetParam(), kFill);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const Rgb got = {Px(out, w, x, y)[0], Px(out, w, x, y)[1], Px(out, w, x, y)[2]};
      if (x + 3 < w) {
        const uint8_t* want = Px(in, w, x + 3, y);
        EXPECT_EQ(got, (Rgb{want[0], want[1], want[2]})) << x << "," << y;
      } else {
        EXPECT_EQ(got, kFill) << x << "," << y;
      }
    }
  }
  TranslateY(in.data(), out.data(), h, w, -2.0, GetParam(), kFill);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const Rgb got = {Px(out, w, x, y)[0], Px(out, w, x, y)[1], Px(out, w, x, y)[2]};
      if (y >= 2) {
        const uint8_t* want = Px(in, w, x, y - 2);
        EXPECT_EQ(got, (Rgb{want[0], want[1], want[2]})) << x << "," << y;
      } else {
        EXPECT_EQ(got, kFill) << x << "," << y;
      }
    }
  }
}

TEST_P(RandAugmentGeometryTest, ZeroShearAndRotationAreIdentity) {
  const int h = 9, w = 11;
  const Image in = MakePicture(h, w, 2);
  Image out(in.size());
  ShearX(in.data(), out.data(), h, w, 0.0, GetParam(), kFill);
  EXPECT_EQ(out, in);
  ShearY(in.data(), out.data(), h, w, 0.0, GetParam(), kFill);
  EXPECT_EQ(out, in);
  Rotate(in.data(), out.data(), h, w, 0.0, GetParam(), kFill);
  EXPECT_EQ(out, in);
  Rotate(in.data(), out.data(), h, w, -360.0, GetParam(), kFill);
  EXPECT_EQ(out, in);
}

TEST_P(RandAugmentGeometryTest, HalfTurnReversesThePixels) {
  const int h = 9, w = 11;
  const Image in = MakePicture(h, w, 3);
  Image out(in.size());
  Rotate(in.data(), out.data(), h, w, 180.0, GetParam(), kFill);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(Px(out, w, x, y)[c], Px(in, w, w - 1 - x, h - 1 - y)[c]);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Resamples, RandAugmentGeometryTest,
                         ::testing::Values(Resample::kBilinear, Resample::kBicubic));

// ---- Drawing ----

TEST(RandAugmentTest, LevelsFollowTimmFormulas) {
  // prob 1 and std 0: every op runs at magnitude 7. Expected arguments,
  // written out from timm's level functions with m / 10 = 0.7:
  RandAugmentConfig config;
  config.prob = 1.0;
  config.magnitude_std = 0.0;
  const std::map<RandAugmentOp, double> increasing = {
      {RandAugmentOp::kAutoContrast, 0},     {RandAugmentOp::kEqualize, 0},
      {RandAugmentOp::kInvert, 0},           {RandAugmentOp::kRotate, 21.0},
      {RandAugmentOp::kPosterize, 2},     // 4 - int(2.8)
      {RandAugmentOp::kSolarize, 77},     // 256 - int(179.2)
      {RandAugmentOp::kSolarizeAdd, 77},  // int(77.0)
      {RandAugmentOp::kColor, 0.63},      // 1 +- 0.63
      {RandAugmentOp::kContrast, 0.63},      {RandAugmentOp::kBrightness, 0.63},
      {RandAugmentOp::kSharpness, 0.63},     {RandAugmentOp::kShearX, 0.21},
      {RandAugmentOp::kShearY, 0.21},        {RandAugmentOp::kTranslateXRel, 0.315},
      {RandAugmentOp::kTranslateYRel, 0.315}};
  std::map<RandAugmentOp, int> seen;
  for (uint64_t sample = 0; sample < 200; ++sample) {
    RandomStream rng = Stream(sample);
    for (const RandAugmentStep& s : DrawRandAugment(config, rng)) {
      ASSERT_TRUE(s.applied);
      EXPECT_EQ(s.magnitude, 7.0);
      ++seen[s.op];
      const double want = increasing.at(s.op);
      switch (s.op) {
        case RandAugmentOp::kColor:
        case RandAugmentOp::kContrast:
        case RandAugmentOp::kBrightness:
        case RandAugmentOp::kSharpness:
          EXPECT_NEAR(std::abs(s.level - 1.0), want, 1e-12) << RandAugmentOpName(s.op, true);
          break;
        default:
          EXPECT_NEAR(std::abs(s.level), want, 1e-12) << RandAugmentOpName(s.op, true);
      }
    }
  }
  EXPECT_EQ(seen.size(), 15u);

  config.increasing = false;  // Posterize int(2.8), Solarize int(179.2), 0.7 * 1.8 + 0.1
  const std::map<RandAugmentOp, double> plain = {
      {RandAugmentOp::kPosterize, 2},     {RandAugmentOp::kSolarize, 179},
      {RandAugmentOp::kColor, 1.36},      {RandAugmentOp::kContrast, 1.36},
      {RandAugmentOp::kBrightness, 1.36}, {RandAugmentOp::kSharpness, 1.36}};
  for (uint64_t sample = 0; sample < 100; ++sample) {
    RandomStream rng = Stream(sample);
    for (const RandAugmentStep& s : DrawRandAugment(config, rng)) {
      auto it = plain.find(s.op);
      if (it != plain.end()) {
        EXPECT_NEAR(s.level, it->second, 1e-12) << RandAugmentOpName(s.op, false);
      }
    }
  }
}

TEST(RandAugmentTest, DrawStatisticsMatchTheSpec) {
  // 20000 clips x 4 layers with the VideoMAE config.
  const RandAugmentConfig config;
  const int kClips = 20000;
  std::vector<int> op_count(kNumRandAugmentOps, 0);
  int layers = 0, applied = 0, signed_ops = 0, negative = 0, geometric = 0, bicubic = 0;
  double m_sum = 0, m_sq = 0;
  for (int i = 0; i < kClips; ++i) {
    RandomStream rng = Stream(static_cast<uint64_t>(i));
    const auto steps = DrawRandAugment(config, rng);
    ASSERT_EQ(steps.size(), 4u);
    for (const RandAugmentStep& s : steps) {
      ++layers;
      ++op_count[static_cast<int>(s.op)];
      if (!s.applied) {
        continue;
      }
      ++applied;
      m_sum += s.magnitude;
      m_sq += s.magnitude * s.magnitude;
      const bool enhance = s.op == RandAugmentOp::kColor || s.op == RandAugmentOp::kContrast ||
                           s.op == RandAugmentOp::kBrightness || s.op == RandAugmentOp::kSharpness;
      const bool geo = s.op == RandAugmentOp::kRotate || s.op == RandAugmentOp::kShearX ||
                       s.op == RandAugmentOp::kShearY || s.op == RandAugmentOp::kTranslateXRel ||
                       s.op == RandAugmentOp::kTranslateYRel;
      if (enhance || geo) {
        ++signed_ops;
        negative += (enhance ? s.level < 1.0 : s.level < 0.0) ? 1 : 0;
      }
      if (geo) {
        ++geometric;
        bicubic += s.resample == Resample::kBicubic ? 1 : 0;
      }
    }
  }
  // Op choice: binomial(80000, 1/15): mean 5333, sd 70.6; allow 5 sd.
  const double expected = layers / 15.0;
  const double sd = std::sqrt(layers * (1.0 / 15) * (14.0 / 15));
  for (int op = 0; op < kNumRandAugmentOps; ++op) {
    EXPECT_NEAR(op_count[op], expected, 5 * sd) << op;
  }
  // prob 0.5: sd of the fraction is 0.5 / sqrt(80000) = 0.0018.
  EXPECT_NEAR(static_cast<double>(applied) / layers, 0.5, 0.01);
  // Normal(7, 0.5), hardly clipped: mean and sd within ~5 standard errors.
  const double mean = m_sum / applied;
  const double var = m_sq / applied - mean * mean;
  EXPECT_NEAR(mean, 7.0, 0.015);
  EXPECT_NEAR(std::sqrt(var), 0.5, 0.015);
  EXPECT_NEAR(static_cast<double>(negative) / signed_ops, 0.5, 0.02);
  EXPECT_NEAR(static_cast<double>(bicubic) / geometric, 0.5, 0.02);
}

TEST(RandAugmentTest, MagnitudeIsClippedAndUniformWhenStdIsInfinite) {
  RandAugmentConfig config;
  config.prob = 1.0;
  config.magnitude = 10;
  int at_max = 0, total = 0;
  for (uint64_t sample = 0; sample < 2000; ++sample) {
    RandomStream rng = Stream(sample);
    for (const RandAugmentStep& s : DrawRandAugment(config, rng)) {
      EXPECT_LE(s.magnitude, 10.0);
      at_max += s.magnitude == 10.0 ? 1 : 0;
      ++total;
    }
  }
  // Normal(10, 0.5) is above 10 half the time, clipped to exactly 10.
  EXPECT_NEAR(static_cast<double>(at_max) / total, 0.5, 0.03);

  config.magnitude = 7;
  config.magnitude_std = std::numeric_limits<double>::infinity();
  double sum = 0;
  total = 0;
  for (uint64_t sample = 0; sample < 2000; ++sample) {
    RandomStream rng = Stream(sample);
    for (const RandAugmentStep& s : DrawRandAugment(config, rng)) {
      EXPECT_GE(s.magnitude, 0.0);
      EXPECT_LT(s.magnitude, 7.0);
      sum += s.magnitude;
      ++total;
    }
  }
  EXPECT_NEAR(sum / total, 3.5, 0.1);  // Uniform(0, 7): sd of mean 2.02 / sqrt(8000)
}

// ---- Clips ----

TEST(RandAugmentTest, EveryFrameGetsTheSameOps) {
  const int h = 24, w = 20, frames = 5;
  const Image picture = MakePicture(h, w, 4);
  RandAugmentConfig config;
  config.prob = 1.0;  // four ops run on every clip
  int changed = 0;
  for (uint64_t sample = 0; sample < 30; ++sample) {
    Image clip;
    for (int f = 0; f < frames; ++f) {
      clip.insert(clip.end(), picture.begin(), picture.end());
    }
    RandomStream rng = Stream(sample);
    RandAugmentClip(config, rng, clip.data(), frames, h, w);
    const Image first(clip.begin(), clip.begin() + picture.size());
    for (int f = 1; f < frames; ++f) {
      EXPECT_TRUE(std::equal(first.begin(), first.end(), clip.begin() + f * picture.size()))
          << "sample " << sample << " frame " << f;
    }
    // The same steps applied to a lone frame give the same picture.
    RandomStream again = Stream(sample);
    Image single = picture;
    ApplyRandAugment(DrawRandAugment(config, again), config.fill, single.data(), 1, h, w);
    EXPECT_EQ(single, first) << "sample " << sample;
    changed += first != picture ? 1 : 0;
  }
  EXPECT_GT(changed, 25);
}

TEST(RandAugmentTest, SameStreamSameClipOtherSampleOtherClip) {
  const int h = 16, w = 16;
  const Image picture = MakePicture(h, w, 5);
  const RandAugmentConfig config;
  Image a = picture, b = picture;
  RandomStream rng_a = Stream(11);
  RandomStream rng_b = Stream(11);
  RandAugmentClip(config, rng_a, a.data(), 1, h, w);
  RandAugmentClip(config, rng_b, b.data(), 1, h, w);
  EXPECT_EQ(a, b);
  int differ = 0;
  for (uint64_t sample = 12; sample < 22; ++sample) {
    Image c = picture;
    RandomStream rng = Stream(sample);
    RandAugmentClip(config, rng, c.data(), 1, h, w);
    differ += c != a ? 1 : 0;
  }
  EXPECT_GE(differ, 8);
}

TEST(RandAugmentTest, SkippedLayersLeaveTheClipAlone) {
  RandAugmentConfig config;
  config.num_layers = 0;
  const Image picture = MakePicture(8, 8, 6);
  Image clip = picture;
  RandomStream rng = Stream(1);
  RandAugmentClip(config, rng, clip.data(), 1, 8, 8);
  EXPECT_EQ(clip, picture);
  std::vector<RandAugmentStep> skipped(3);  // applied = false
  skipped[0].op = RandAugmentOp::kInvert;
  ApplyRandAugment(skipped, kFill, clip.data(), 1, 8, 8);
  EXPECT_EQ(clip, picture);
}

// ---- Against Pillow (tests/worker/data/augment/rand_augment_reference.py) ----

std::string Num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", v);  // round-trips exactly
  return buf;
}

std::string ResampleName(Resample r) { return r == Resample::kBilinear ? "bilinear" : "bicubic"; }

std::string GeoArgs(double v, Resample r) {
  return Num(v) + " " + ResampleName(r) + " " + std::to_string(kFill[0]) + " " +
         std::to_string(kFill[1]) + " " + std::to_string(kFill[2]);
}

// The reference script's spelling of one drawn step.
std::string PillowStep(const RandAugmentStep& s) {
  switch (s.op) {
    case RandAugmentOp::kAutoContrast:
      return "autocontrast";
    case RandAugmentOp::kEqualize:
      return "equalize";
    case RandAugmentOp::kInvert:
      return "invert";
    case RandAugmentOp::kRotate:
      return "rotate " + GeoArgs(s.level, s.resample);
    case RandAugmentOp::kPosterize:
      return "posterize " + Num(s.level);
    case RandAugmentOp::kSolarize:
      return "solarize " + Num(s.level);
    case RandAugmentOp::kSolarizeAdd:
      return "solarize_add " + Num(s.level);
    case RandAugmentOp::kColor:
      return "color " + Num(s.level);
    case RandAugmentOp::kContrast:
      return "contrast " + Num(s.level);
    case RandAugmentOp::kBrightness:
      return "brightness " + Num(s.level);
    case RandAugmentOp::kSharpness:
      return "sharpness " + Num(s.level);
    case RandAugmentOp::kShearX:
      return "shear_x " + GeoArgs(s.level, s.resample);
    case RandAugmentOp::kShearY:
      return "shear_y " + GeoArgs(s.level, s.resample);
    case RandAugmentOp::kTranslateXRel:
      return "translate_x_rel " + GeoArgs(s.level, s.resample);
    case RandAugmentOp::kTranslateYRel:
      return "translate_y_rel " + GeoArgs(s.level, s.resample);
  }
  return "";
}

// Runs /usr/bin/python3 SCRIPT ARG under a 50 s timeout; returns its exit
// status with stdout and stderr in `output`. (popen keeps this binary free of
// the gRPC-linked vmae::testing helpers.)
int RunPython(const std::string& script, const std::string& arg, std::string* output) {
  const std::string command = "timeout 50 /usr/bin/python3 '" + script + "' '" + arg + "' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *output = "popen failed for: " + command;
    return 127;
  }
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) {
    output->append(buf, n);
  }
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

struct PillowCase {
  std::string what;    // shown on failure
  int input;           // index into the pictures
  std::string pillow;  // "|op args|op args"
  Image ours;          // our result
  int tolerance;       // largest allowed |difference| per value
};

struct Picture {
  int height, width;
  Image pixels;
};

class RandAugmentPillowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pictures_ = {{29, 37, MakePicture(29, 37, 8)}, {32, 32, MakePicture(32, 32, 9)}};
  }

  void AddPoint(const std::string& pillow, const std::function<void(uint8_t*, int, int)>& op) {
    for (int i = 0; i < static_cast<int>(pictures_.size()); ++i) {
      const Picture& p = pictures_[i];
      Image img = p.pixels;
      op(img.data(), p.height, p.width);
      cases_.push_back({pillow, i, "|" + pillow, std::move(img), 0});
    }
  }

  void AddGeo(const std::string& pillow,
              const std::function<void(const uint8_t*, uint8_t*, int, int)>& op) {
    for (int i = 0; i < static_cast<int>(pictures_.size()); ++i) {
      const Picture& p = pictures_[i];
      Image img(p.pixels.size());
      op(p.pixels.data(), img.data(), p.height, p.width);
      cases_.push_back({pillow, i, "|" + pillow, std::move(img), 1});
    }
  }

  // Runs the script over all cases and compares; skips without Pillow.
  void CompareAll() {
    vmae::testing::TempDir dir;
    std::ofstream cases(dir.File("cases.txt"));
    for (size_t i = 0; i < pictures_.size(); ++i) {
      std::ofstream(dir.File("in" + std::to_string(i) + ".rgb"), std::ios::binary)
          .write(reinterpret_cast<const char*>(pictures_[i].pixels.data()),
                 static_cast<std::streamsize>(pictures_[i].pixels.size()));
    }
    for (size_t c = 0; c < cases_.size(); ++c) {
      const Picture& p = pictures_[cases_[c].input];
      cases << dir.File("in" + std::to_string(cases_[c].input) + ".rgb") << " " << p.height << " "
            << p.width << " " << dir.File("out" + std::to_string(c) + ".rgb") << cases_[c].pillow
            << "\n";
    }
    cases.close();
    std::string output;
    const int rc = RunPython(
        std::string(VMAE_SOURCE_DIR) + "/tests/worker/data/augment/rand_augment_reference.py",
        dir.File("cases.txt"), &output);
    if (rc == 3 || rc == 127) {
      GTEST_SKIP() << "Pillow/numpy for /usr/bin/python3 not available: " << output;
    }
    ASSERT_EQ(rc, 0) << output;
    for (size_t c = 0; c < cases_.size(); ++c) {
      std::ifstream in(dir.File("out" + std::to_string(c) + ".rgb"), std::ios::binary);
      const Image want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const Image& got = cases_[c].ours;
      ASSERT_EQ(want.size(), got.size()) << cases_[c].what;
      int worst = 0;
      size_t mismatches = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        const int d = std::abs(static_cast<int>(got[i]) - static_cast<int>(want[i]));
        worst = std::max(worst, d);
        mismatches += d != 0 ? 1 : 0;
      }
      EXPECT_LE(worst, cases_[c].tolerance)
          << cases_[c].what << " on picture " << cases_[c].input << ": " << mismatches << " of "
          << got.size() << " values differ";
      // Even where rounding may differ by one, nearly every value matches.
      EXPECT_LE(mismatches * 1000, got.size()) << cases_[c].what;
    }
  }

  std::vector<Picture> pictures_;
  std::vector<PillowCase> cases_;
};

TEST_F(RandAugmentPillowTest, PointAndEnhanceOpsMatchExactly) {
  AddPoint("autocontrast", AutoContrast);
  AddPoint("equalize", Equalize);
  AddPoint("invert", Invert);
  for (int bits : {0, 1, 2, 3, 4, 8}) {
    AddPoint("posterize " + std::to_string(bits),
             [bits](uint8_t* p, int h, int w) { Posterize(p, h, w, bits); });
  }
  for (int t : {0, 77, 128, 179, 256}) {
    AddPoint("solarize " + std::to_string(t),
             [t](uint8_t* p, int h, int w) { Solarize(p, h, w, t); });
  }
  for (int add : {0, 30, 77, 110}) {
    AddPoint("solarize_add " + std::to_string(add),
             [add](uint8_t* p, int h, int w) { SolarizeAdd(p, h, w, add); });
  }
  for (double f : {0.0, 0.1, 0.37, 0.5, 1.0, 1.36, 1.63, 1.9}) {
    AddPoint("color " + Num(f), [f](uint8_t* p, int h, int w) { Color(p, h, w, f); });
    AddPoint("contrast " + Num(f), [f](uint8_t* p, int h, int w) { Contrast(p, h, w, f); });
    AddPoint("brightness " + Num(f), [f](uint8_t* p, int h, int w) { Brightness(p, h, w, f); });
    AddPoint("sharpness " + Num(f), [f](uint8_t* p, int h, int w) {
      const Image src(p, p + static_cast<size_t>(h) * w * 3);
      Sharpness(src.data(), p, h, w, f);
    });
  }
  for (PillowCase& c : cases_) {
    c.tolerance = 0;
  }
  CompareAll();
}

TEST_F(RandAugmentPillowTest, GeometricOpsMatch) {
  for (Resample r : {Resample::kBilinear, Resample::kBicubic}) {
    for (double deg : {21.0, -21.0, 7.3, -29.9, 90.0, 270.0, 180.0, 45.0}) {
      AddGeo("rotate " + GeoArgs(deg, r), [deg, r](const uint8_t* s, uint8_t* d, int h, int w) {
        Rotate(s, d, h, w, deg, r, kFill);
      });
    }
    for (double f : {0.21, -0.21, 0.3, -0.07}) {
      AddGeo("shear_x " + GeoArgs(f, r), [f, r](const uint8_t* s, uint8_t* d, int h, int w) {
        ShearX(s, d, h, w, f, r, kFill);
      });
      AddGeo("shear_y " + GeoArgs(f, r), [f, r](const uint8_t* s, uint8_t* d, int h, int w) {
        ShearY(s, d, h, w, f, r, kFill);
      });
    }
    for (double pct : {0.315, -0.315, 0.45, -0.02}) {
      AddGeo("translate_x_rel " + GeoArgs(pct, r),
             [pct, r](const uint8_t* s, uint8_t* d, int h, int w) {
               TranslateX(s, d, h, w, pct * w, r, kFill);
             });
      AddGeo("translate_y_rel " + GeoArgs(pct, r),
             [pct, r](const uint8_t* s, uint8_t* d, int h, int w) {
               TranslateY(s, d, h, w, pct * h, r, kFill);
             });
    }
  }
  CompareAll();
}

TEST_F(RandAugmentPillowTest, DrawnClipsMatchTimmChains) {
  // Whole RandAugmentClip runs: our draws, replayed op by op through the
  // timm/Pillow functions.
  RandAugmentConfig config;
  config.prob = 1.0;
  for (uint64_t sample = 0; sample < 40; ++sample) {
    RandomStream rng = Stream(sample, 99);
    const auto steps = DrawRandAugment(config, rng);
    std::string pillow;
    for (const RandAugmentStep& s : steps) {
      pillow += "|" + PillowStep(s);
    }
    for (int i = 0; i < static_cast<int>(pictures_.size()); ++i) {
      const Picture& p = pictures_[i];
      Image img = p.pixels;
      RandomStream replay = Stream(sample, 99);
      RandAugmentClip(config, replay, img.data(), 1, p.height, p.width);
      cases_.push_back({"clip " + std::to_string(sample) + pillow, i, pillow, std::move(img), 1});
    }
  }
  CompareAll();
}

}  // namespace
}  // namespace vmae::data
