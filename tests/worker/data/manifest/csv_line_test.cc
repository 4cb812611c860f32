#include "worker/data/manifest/csv_line.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::data {
namespace {

using ::testing::ElementsAre;

TEST(CsvLineTest, SplitsPlainAndQuotedFields) {
  EXPECT_THAT(*SplitCsvLine("a,b"), ElementsAre("a", "b"));
  EXPECT_THAT(*SplitCsvLine(" a , b "), ElementsAre("a", "b"));
  EXPECT_THAT(*SplitCsvLine("\"a,b\",c"), ElementsAre("a,b", "c"));
  EXPECT_THAT(*SplitCsvLine("\"say \"\"x\"\"\" ,1"), ElementsAre("say \"x\"", "1"));
  EXPECT_THAT(*SplitCsvLine("a,"), ElementsAre("a", ""));
  EXPECT_THAT(*SplitCsvLine(""), ElementsAre(""));
  EXPECT_THAT(*SplitCsvLine("\"\""), ElementsAre(""));
}

TEST(CsvLineTest, RejectsBrokenQuotes) {
  EXPECT_FALSE(SplitCsvLine("\"abc").ok());
  EXPECT_FALSE(SplitCsvLine("\"a\"b,1").ok());
}

}  // namespace
}  // namespace vmae::data
