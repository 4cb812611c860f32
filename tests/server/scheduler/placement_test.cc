#include "server/scheduler/placement.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::server::scheduler_internal {
namespace {

// "node/agent:slot" per rank; checks that ranks are 0..n-1.
std::string Layout(const std::vector<RankPlacement>& placement) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < placement.size(); ++i) {
    EXPECT_EQ(placement[i].rank, static_cast<int>(i));
    parts.push_back(
        absl::StrCat(placement[i].node, "/", placement[i].agent_id, ":", placement[i].slot));
  }
  return absl::StrJoin(parts, " ");
}

TEST(PlacementTest, ChoosesTheTightestNodeThatHoldsAllRanks) {
  std::vector<CandidateSlot> slots = {
      {"a", "n1", 0}, {"a", "n1", 1}, {"a", "n1", 2}, {"b", "n2", 5}, {"b", "n2", 4}};
  EXPECT_EQ(Layout(PackRanks(slots, 2)), "n2/b:4 n2/b:5");
  EXPECT_EQ(Layout(PackRanks(slots, 3)), "n1/a:0 n1/a:1 n1/a:2");
}

TEST(PlacementTest, FillsTheFullestNodesFirstThenBestFitsTheRest) {
  std::vector<CandidateSlot> slots = {{"a", "n1", 0}, {"a", "n1", 1}, {"a", "n1", 2},
                                      {"b", "n2", 0}, {"b", "n2", 1}, {"c", "n3", 7}};
  // 4 ranks: n1 (3) then the last rank on n3 (1 free), keeping n2's pair.
  EXPECT_EQ(Layout(PackRanks(slots, 4)), "n1/a:0 n1/a:1 n1/a:2 n3/c:7");
  EXPECT_EQ(Layout(PackRanks(slots, 6)), "n1/a:0 n1/a:1 n1/a:2 n2/b:0 n2/b:1 n3/c:7");
}

TEST(PlacementTest, IgnoresDuplicateCandidates) {
  std::vector<CandidateSlot> slots = {
      {"a", "n1", 0}, {"a", "n1", 0}, {"b", "n2", 0}, {"b", "n2", 1}};
  EXPECT_EQ(Layout(PackRanks(slots, 2)), "n2/b:0 n2/b:1");
  EXPECT_EQ(Layout(PackRanks(slots, 3)), "n2/b:0 n2/b:1 n1/a:0");
}

TEST(PlacementTest, ReturnsWhatExistsWhenAskedForTooMany) {
  std::vector<CandidateSlot> slots = {{"a", "n1", 0}};
  EXPECT_EQ(Layout(PackRanks(slots, 3)), "n1/a:0");
  EXPECT_EQ(Layout(PackRanks({}, 0)), "");
}

}  // namespace
}  // namespace vmae::server::scheduler_internal
