#include "worker/data/augment/normalize.h"

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/random/counter_random.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

std::vector<uint8_t> RandomBytes(size_t n) {
  random::RandomStream rng(random::StreamKey{1, random::Purpose::kRandAugment, 0, 0, 0});
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) {
    b = static_cast<uint8_t>(rng.NextU32());
  }
  return out;
}

// (x / 255 - mean) / std in double, the formula as written.
double Formula(uint8_t x, int c) {
  const double mean[3] = {0.485, 0.456, 0.406};
  const double std[3] = {0.229, 0.224, 0.225};
  return (x / 255.0 - mean[c]) / std[c];
}

// Odd sizes so that vectorised loops have remainders.
constexpr int kT = 3;
constexpr int kH = 5;
constexpr int kW = 37;

TEST(NormalizeClipTest, MatchesTheFormula) {
  const std::vector<uint8_t> src = RandomBytes(kT * kH * kW * 3);
  std::vector<float> dst(src.size(), -100.0f);
  NormalizeClip(src.data(), kT, kH, kW, /*flip=*/false, dst.data());
  for (int c = 0; c < 3; ++c) {
    for (int t = 0; t < kT; ++t) {
      for (int y = 0; y < kH; ++y) {
        for (int x = 0; x < kW; ++x) {
          const uint8_t in = src[((t * kH + y) * kW + x) * 3 + c];
          const float out = dst[((c * kT + t) * kH + y) * kW + x];
          ASSERT_NEAR(out, Formula(in, c), 2e-6) << c << " " << t << " " << y << " " << x;
        }
      }
    }
  }
}

TEST(NormalizeClipTest, FlipMirrorsColumns) {
  const std::vector<uint8_t> src = RandomBytes(kT * kH * kW * 3);
  std::vector<float> dst(src.size(), -100.0f);
  NormalizeClip(src.data(), kT, kH, kW, /*flip=*/true, dst.data());
  for (int c = 0; c < 3; ++c) {
    for (int t = 0; t < kT; ++t) {
      for (int y = 0; y < kH; ++y) {
        for (int x = 0; x < kW; ++x) {
          const uint8_t in = src[((t * kH + y) * kW + (kW - 1 - x)) * 3 + c];
          const float out = dst[((c * kT + t) * kH + y) * kW + x];
          ASSERT_NEAR(out, Formula(in, c), 2e-6) << c << " " << t << " " << y << " " << x;
        }
      }
    }
  }
}

// Hand-worked: 0 -> -0.485 / 0.229 = -2.1179; 255 -> (1 - 0.406) / 0.225 = 2.64.
TEST(NormalizeClipTest, ExtremesAndCustomStatistics) {
  const std::vector<uint8_t> src = {0, 0, 0, 255, 255, 255};
  std::vector<float> dst(6);
  NormalizeClip(src.data(), 1, 1, 2, false, dst.data());
  EXPECT_NEAR(dst[0], -2.117903930, 1e-6);  // R of pixel 0
  EXPECT_NEAR(dst[5], 2.64, 1e-6);          // B of pixel 1
  NormalizeOptions half;
  half.mean = {0.5f, 0.5f, 0.5f};
  half.std = {0.5f, 0.5f, 0.5f};
  NormalizeClip(src.data(), 1, 1, 2, false, dst.data(), half);
  const std::vector<float> expected = {-1, 1, -1, 1, -1, 1};  // [C][T][H][W]
  for (size_t i = 0; i < dst.size(); ++i) {
    EXPECT_NEAR(dst[i], expected[i], 1e-6) << i;
  }
}

}  // namespace
}  // namespace vmae::data
