#include "common/random/permutation.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::random {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(PermutationTest, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 3, 100, 1001}) {
    std::vector<int64_t> p = EpochPermutation(n, 77, 4);
    ASSERT_EQ(static_cast<int64_t>(p.size()), n);
    std::sort(p.begin(), p.end());
    std::vector<int64_t> identity(n);
    std::iota(identity.begin(), identity.end(), int64_t{0});
    EXPECT_EQ(p, identity) << "n=" << n;
  }
}

TEST(PermutationTest, EmptyListGivesEmptyPermutation) {
  EXPECT_THAT(EpochPermutation(0, 1, 1), IsEmpty());
}

// Expected vectors from philox_reference.py: Philox + Fisher-Yates written
// in Python from the header's specification.
TEST(PermutationTest, MatchesReferenceImplementation) {
  EXPECT_THAT(EpochPermutation(1, 5, 0), ElementsAre(0));
  EXPECT_THAT(EpochPermutation(2, 5, 0), ElementsAre(0, 1));
  EXPECT_THAT(EpochPermutation(10, 0, 0), ElementsAre(6, 0, 9, 4, 2, 8, 5, 7, 3, 1));
  EXPECT_THAT(EpochPermutation(10, 0, 1), ElementsAre(4, 3, 9, 5, 1, 8, 6, 0, 7, 2));
  EXPECT_THAT(EpochPermutation(10, 1, 0), ElementsAre(8, 0, 7, 4, 9, 5, 3, 1, 2, 6));
  EXPECT_THAT(EpochPermutation(17, 12345, 7),
              ElementsAre(13, 12, 5, 15, 4, 7, 0, 3, 16, 10, 6, 2, 8, 9, 14, 11, 1));
  EXPECT_THAT(EpochPermutation(32, (1ULL << 40) + 3, 2),
              ElementsAre(23, 22, 18, 20, 9, 15, 29, 12, 8, 2, 10, 1, 24, 4, 14, 19, 31, 11, 5, 3,
                          26, 16, 21, 25, 17, 6, 0, 13, 27, 30, 7, 28));
}

TEST(PermutationTest, SameSeedAndEpochGiveSamePermutation) {
  EXPECT_EQ(EpochPermutation(500, 9, 3), EpochPermutation(500, 9, 3));
  EXPECT_NE(EpochPermutation(500, 9, 3), EpochPermutation(500, 9, 4));
  EXPECT_NE(EpochPermutation(500, 9, 3), EpochPermutation(500, 10, 3));
}

// Every element is equally likely in every position: over 4000 epochs of
// n = 5, each of the 25 (value, position) cells expects 800 hits (sd ~25).
TEST(PermutationTest, PositionsAreUniformOverEpochs) {
  constexpr int kN = 5;
  constexpr int kEpochs = 4000;
  std::vector<std::vector<int>> counts(kN, std::vector<int>(kN, 0));
  for (int e = 0; e < kEpochs; ++e) {
    const std::vector<int64_t> p = EpochPermutation(kN, 31, e);
    for (int pos = 0; pos < kN; ++pos) {
      ++counts[p[pos]][pos];
    }
  }
  for (int v = 0; v < kN; ++v) {
    for (int pos = 0; pos < kN; ++pos) {
      EXPECT_NEAR(counts[v][pos], kEpochs / kN, 130) << "value " << v << " position " << pos;
    }
  }
}

}  // namespace
}  // namespace vmae::random
