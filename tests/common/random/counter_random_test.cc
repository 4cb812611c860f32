#include "common/random/counter_random.h"

#include <Random123/philox.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::random {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::array<uint32_t, 4> Philox(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  philox4x32_ctr_t c = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
  philox4x32_key_t k = {{key[0], key[1]}};
  philox4x32_ctr_t out = philox4x32_R(10, c, k);
  return {out.v[0], out.v[1], out.v[2], out.v[3]};
}

// Random123's kat_vectors for philox4x32 with 10 rounds; the same values come
// out of the separate Python implementation in philox_reference.py.
TEST(CounterRandomTest, PhiloxMatchesKnownAnswers) {
  EXPECT_THAT(Philox({0, 0, 0, 0}, {0, 0}),
              ElementsAre(0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u));
  EXPECT_THAT(Philox({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
              ElementsAre(0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu));
  EXPECT_THAT(Philox({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
              ElementsAre(0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u));
}

// Expected values from philox_reference.py (key mixing, counter layout and
// the derived draws written from the header's specification).
TEST(CounterRandomTest, StreamMatchesReferenceImplementation) {
  const StreamKey key{42, Purpose::kTemporal, 3, 0x100000007ULL, 1};
  RandomStream words(key);
  std::vector<uint32_t> got;
  for (int i = 0; i < 6; ++i) {
    got.push_back(words.NextU32());
  }
  EXPECT_THAT(got, ElementsAre(0xbf47b7c9u, 0x98a0617cu, 0xae4dc25du, 0xf7cd1ea1u, 0xa0542370u,
                               0xea42373cu));

  RandomStream derived(key);
  EXPECT_EQ(derived.NextU64(), 0xbf47b7c998a0617cULL);
  std::vector<uint64_t> below;
  for (int i = 0; i < 8; ++i) {
    below.push_back(derived.Below(10));
  }
  EXPECT_THAT(below, ElementsAre(6, 6, 0, 0, 5, 0, 5, 6));
  EXPECT_EQ(derived.Below(1000003), 843177u);
  EXPECT_EQ(derived.Below(1000003), 27420u);

  RandomStream real(StreamKey{7, Purpose::kErasing, 0, 0, 0});
  EXPECT_DOUBLE_EQ(real.Uniform(), 0.35279306547479228);
  EXPECT_DOUBLE_EQ(real.Uniform(), 0.0058411356110048551);
  EXPECT_DOUBLE_EQ(real.Uniform(), 0.53496278801284769);
  EXPECT_NEAR(real.Normal(), 1.0987769467957731, 1e-12);
  EXPECT_NEAR(real.Normal(), -0.54887715364445766, 1e-12);
}

TEST(CounterRandomTest, SameKeyGivesSameNumbers) {
  const StreamKey key{99, Purpose::kSpatial, 5, 123, 2};
  RandomStream a(key);
  RandomStream b(key);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(a.NextU32(), b.NextU32()) << "draw " << i;
  }
}

std::vector<uint32_t> First(const StreamKey& key, int n) {
  RandomStream rng(key);
  std::vector<uint32_t> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(rng.NextU32());
  }
  return out;
}

TEST(CounterRandomTest, EachKeyFieldSelectsAnotherStream) {
  const StreamKey base{1, Purpose::kTemporal, 2, 3, 4};
  std::vector<StreamKey> keys(6, base);
  keys[1].seed = 2;
  keys[2].purpose = Purpose::kSpatial;
  keys[3].epoch = 3;
  keys[4].sample = 4;
  keys[5].view = 5;
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = i + 1; j < keys.size(); ++j) {
      EXPECT_NE(First(keys[i], 8), First(keys[j], 8)) << "keys " << i << " and " << j;
    }
  }
  // The high words of seed and sample count too.
  StreamKey high_seed = base;
  high_seed.seed |= 1ULL << 40;
  StreamKey high_sample = base;
  high_sample.sample |= 1ULL << 40;
  EXPECT_NE(First(base, 8), First(high_seed, 8));
  EXPECT_NE(First(base, 8), First(high_sample, 8));
}

TEST(CounterRandomTest, StreamsWithDifferentKeysAreUncorrelated) {
  RandomStream a(StreamKey{5, Purpose::kMask, 0, 10, 0});
  RandomStream b(StreamKey{5, Purpose::kMask, 0, 11, 0});
  constexpr int kN = 100000;
  double sum_a = 0, sum_b = 0, sum_ab = 0, sum_aa = 0, sum_bb = 0;
  for (int i = 0; i < kN; ++i) {
    const double x = a.Uniform();
    const double y = b.Uniform();
    sum_a += x;
    sum_b += y;
    sum_ab += x * y;
    sum_aa += x * x;
    sum_bb += y * y;
  }
  const double cov = sum_ab / kN - (sum_a / kN) * (sum_b / kN);
  const double var_a = sum_aa / kN - (sum_a / kN) * (sum_a / kN);
  const double var_b = sum_bb / kN - (sum_b / kN) * (sum_b / kN);
  const double r = cov / std::sqrt(var_a * var_b);
  // Under independence r ~ N(0, 1/n): 5 standard deviations.
  EXPECT_LT(std::abs(r), 5.0 / std::sqrt(kN));
}

TEST(CounterRandomTest, BelowIsUniformByChiSquare) {
  for (uint64_t k : {10u, 7u}) {
    RandomStream rng(StreamKey{2024, Purpose::kShuffle, 1, 0, 0});
    constexpr int kN = 100000;
    std::vector<int> counts(k, 0);
    for (int i = 0; i < kN; ++i) {
      const uint64_t v = rng.Below(k);
      ASSERT_LT(v, k);
      ++counts[v];
    }
    const double expected = static_cast<double>(kN) / k;
    double chi2 = 0;
    for (int c : counts) {
      chi2 += (c - expected) * (c - expected) / expected;
    }
    // 99.9% quantiles of chi-square: 27.88 (9 degrees of freedom), 22.46 (6).
    EXPECT_LT(chi2, k == 10 ? 27.88 : 22.46) << "k=" << k;
  }
}

TEST(CounterRandomTest, BelowCoversLargeRanges) {
  RandomStream rng(StreamKey{3, Purpose::kShuffle, 0, 0, 0});
  const uint64_t n = (1ULL << 63) + 12345;  // rejection happens about half the time
  bool high_half = false;
  bool low_half = false;
  for (int i = 0; i < 200; ++i) {
    const uint64_t v = rng.Below(n);
    ASSERT_LT(v, n);
    (v >= n / 2 ? high_half : low_half) = true;
  }
  EXPECT_TRUE(high_half && low_half);
  EXPECT_EQ(rng.Below(1), 0u);
}

TEST(CounterRandomTest, IntInclusiveStaysInRangeAndReachesBothEnds) {
  RandomStream rng(StreamKey{8, Purpose::kSpatial, 0, 0, 0});
  bool saw_lo = false;
  bool saw_hi = false;
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = rng.IntInclusive(-3, 2);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 2);
    saw_lo |= v == -3;
    saw_hi |= v == 2;
  }
  EXPECT_TRUE(saw_lo && saw_hi);
  EXPECT_EQ(rng.IntInclusive(5, 5), 5);
  // The full int64 range does not overflow.
  rng.IntInclusive(INT64_MIN, INT64_MAX);
}

TEST(CounterRandomTest, UniformHasTheMomentsOfU01) {
  RandomStream rng(StreamKey{11, Purpose::kMixup, 0, 0, 0});
  constexpr int kN = 100000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < kN; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
    sum_sq += u * u;
  }
  const double mean = sum / kN;
  EXPECT_NEAR(mean, 0.5, 5 * std::sqrt(1.0 / 12 / kN));
  EXPECT_NEAR(sum_sq / kN - mean * mean, 1.0 / 12, 0.002);
}

TEST(CounterRandomTest, NormalHasMeanZeroAndVarianceOne) {
  RandomStream rng(StreamKey{13, Purpose::kErasing, 0, 0, 0});
  constexpr int kN = 100000;
  double sum = 0, sum_sq = 0;
  int beyond_two_sigma = 0;
  for (int i = 0; i < kN; ++i) {
    const double z = rng.Normal();
    ASSERT_TRUE(std::isfinite(z));
    sum += z;
    sum_sq += z * z;
    beyond_two_sigma += std::abs(z) > 2.0;
  }
  const double mean = sum / kN;
  const double var = sum_sq / kN - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 / std::sqrt(kN));       // sd of the mean: 1/sqrt(n)
  EXPECT_NEAR(var, 1.0, 5 * std::sqrt(2.0 / kN));  // sd of the variance: sqrt(2/n)
  // P(|Z| > 2) = 0.0455; binomial sd sqrt(p(1-p)/n) = 0.00066.
  EXPECT_NEAR(static_cast<double>(beyond_two_sigma) / kN, 0.0455, 0.0033);
}

TEST(CounterRandomTest, DrawsContinueAcrossBlocks) {
  // Draw 4 starts the second Philox block (counter word 0 = 1).
  const StreamKey key{0, Purpose::kShuffle, 0, 0, 0};
  RandomStream rng(key);
  std::vector<uint32_t> got;
  for (int i = 0; i < 8; ++i) {
    got.push_back(rng.NextU32());
  }
  std::vector<uint32_t> block1(got.begin(), got.begin() + 4);
  std::vector<uint32_t> block2(got.begin() + 4, got.end());
  EXPECT_NE(block1, block2);
  EXPECT_THAT(got, ::testing::Not(ElementsAreArray(std::vector<uint32_t>(8, 0))));
}

}  // namespace
}  // namespace vmae::random
