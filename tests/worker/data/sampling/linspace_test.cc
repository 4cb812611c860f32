#include "worker/data/sampling/linspace.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Expected values: numpy 1.24 np.linspace printed with %.17g by
// sampling_reference.py. Compared exactly, as the frame indices truncate them.
TEST(LinspaceTest, MatchesNumpyExactly) {
  EXPECT_THAT(NumpyLinspace(0, 10, 5), ElementsAre(0, 2.5, 5, 7.5, 10));
  EXPECT_THAT(
      NumpyLinspace(0, 64, 16),
      ElementsAre(0, 4.2666666666666666, 8.5333333333333332, 12.800000000000001, 17.066666666666666,
                  21.333333333333332, 25.600000000000001, 29.866666666666667, 34.133333333333333,
                  38.399999999999999, 42.666666666666664, 46.93333333333333, 51.200000000000003,
                  55.466666666666669, 59.733333333333334, 64));
  EXPECT_THAT(
      NumpyLinspace(3, 67, 16),
      ElementsAre(3, 7.2666666666666666, 11.533333333333333, 15.800000000000001, 20.066666666666666,
                  24.333333333333332, 28.600000000000001, 32.866666666666667, 37.133333333333333,
                  41.399999999999999, 45.666666666666664, 49.93333333333333, 54.200000000000003,
                  58.466666666666669, 62.733333333333334, 67));
  EXPECT_THAT(NumpyLinspace(0, 7, 3), ElementsAre(0, 3.5, 7));
  EXPECT_THAT(NumpyLinspace(0, 1, 7), ElementsAre(0, 0.16666666666666666, 0.33333333333333331, 0.5,
                                                  0.66666666666666663, 0.83333333333333326, 1));
  EXPECT_THAT(
      NumpyLinspace(2.5, -1.0, 6),
      ElementsAre(2.5, 1.8, 1.1000000000000001, 0.40000000000000036, -0.29999999999999982, -1));
}

TEST(LinspaceTest, HandlesDegenerateCounts) {
  EXPECT_THAT(NumpyLinspace(5, 5, 4), ElementsAre(5, 5, 5, 5));
  EXPECT_THAT(NumpyLinspace(0, 100, 1), ElementsAre(0));
  EXPECT_THAT(NumpyLinspace(0, 100, 0), IsEmpty());
  EXPECT_THAT(NumpyLinspace(0, 100, -3), IsEmpty());
}

}  // namespace
}  // namespace vmae::data
