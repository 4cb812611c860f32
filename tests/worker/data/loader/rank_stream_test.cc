// The data plan of one rank, against hand-dealt examples.
#include "worker/data/loader/rank_stream.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

using ::testing::ElementsAre;

// Permutation of 11 samples written out by hand: position p holds 100 + p,
// so the expected values read as positions.
std::vector<int64_t> Positions(int n) {
  std::vector<int64_t> p;
  for (int i = 0; i < n; ++i) p.push_back(100 + i);
  return p;
}

TEST(RankStreamTest, DealsStepSlicesThenTailSpares) {
  // n = 11, batch 2, world 2: global batch 4, 2 full steps (positions 0-7),
  // tail 8, 9, 10 dealt round robin: rank 0 gets 8 and 10, rank 1 gets 9.
  const RankStream r0 = MakeRankStream(Positions(11), 0, {2, 2, 0});
  const RankStream r1 = MakeRankStream(Positions(11), 0, {2, 2, 1});
  EXPECT_EQ(r0.steps, 2);
  EXPECT_EQ(r0.own, 4);
  EXPECT_THAT(r0.samples, ElementsAre(100, 101, 104, 105, 108, 110));
  EXPECT_THAT(r1.samples, ElementsAre(102, 103, 106, 107, 109));
}

TEST(RankStreamTest, ResumesFromCursorWithAnotherWorldSize) {
  // After 1 step of global batch 4 the cursor is 4; resuming on one rank
  // with batch 4 (same global batch) reads positions 4-7, then spares 8-10.
  const RankStream r = MakeRankStream(Positions(11), 4, {4, 1, 0});
  EXPECT_EQ(r.steps, 1);
  EXPECT_THAT(r.samples, ElementsAre(104, 105, 106, 107, 108, 109, 110));
}

TEST(RankStreamTest, CursorAtEndLeavesNothing) {
  const RankStream r = MakeRankStream(Positions(8), 8, {2, 2, 1});
  EXPECT_EQ(r.steps, 0);
  EXPECT_TRUE(r.samples.empty());
}

}  // namespace
}  // namespace vmae::data
