// The tool's flag grammar: --name value, --name=value, booleans, -o, "--".
#include "worker/tool/flag_parser.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::tool {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<FlagSpec> kSpecs = {{"checkpoint", false, ""},
                                      {"topk", false, ""},
                                      {"normalize-target", true, ""},
                                      {"format", false, ""}};

TEST(FlagParserTest, ValuesBooleansAndPositionals) {
  auto f = ParseFlags(
      {"a", "--checkpoint", "c.pth", "--topk=3", "--normalize-target", "b", "-o", "json"}, kSpecs);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Get("checkpoint"), "c.pth");
  EXPECT_EQ(*f->GetInt("topk", 5), 3);
  EXPECT_EQ(f->Get("normalize-target"), "true");
  EXPECT_EQ(f->Get("format"), "json");
  EXPECT_THAT(f->positional(), ElementsAre("a", "b"));
  EXPECT_EQ(*f->GetInt("missing", 7), 7);
}

TEST(FlagParserTest, BooleanAcceptsExplicitFalseOnly) {
  auto f = ParseFlags({"--normalize-target=false"}, kSpecs);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Get("normalize-target"), "false");
  auto bad = ParseFlags({"--normalize-target=maybe"}, kSpecs);
  EXPECT_FALSE(bad.ok());
}

TEST(FlagParserTest, UnknownFlagSuggestsTheNearest) {
  auto f = ParseFlags({"--chekpoint", "x"}, kSpecs);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("unknown flag --chekpoint"));
  EXPECT_THAT(f.status().message(), HasSubstr("did you mean --checkpoint?"));
}

TEST(FlagParserTest, ValueFlagAtTheEndNeedsAValue) {
  auto f = ParseFlags({"--checkpoint"}, kSpecs);
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("--checkpoint needs a value"));
}

TEST(FlagParserTest, MalformedNumberNamesTheFlag) {
  auto f = ParseFlags({"--topk", "five"}, kSpecs);
  ASSERT_TRUE(f.ok());
  auto k = f->GetInt("topk", 5);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("--topk=five"));
}

TEST(FlagParserTest, IntInRangeAcceptsTheBoundsAndRejectsBeyondThem) {
  auto f = ParseFlags({"--topk", "10"}, kSpecs);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(*f->GetIntInRange("topk", 5, 1, 10, "1 to 10"), 10);
  EXPECT_EQ(*f->GetIntInRange("missing", 5, 1, 10, "1 to 10"), 5);
  auto k = f->GetIntInRange("topk", 5, 1, 9, "1 to 9");
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k.status().message(), HasSubstr("--topk=10 is out of range; give 1 to 9"));
}

TEST(FlagParserTest, DoubleDashEndsFlags) {
  auto f = ParseFlags({"--", "--checkpoint"}, kSpecs);
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(f->positional(), ElementsAre("--checkpoint"));
  EXPECT_FALSE(f->Has("checkpoint"));
}

TEST(FlagParserTest, RequireSaysWhichFlag) {
  auto f = ParseFlags({}, kSpecs);
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(f->Require("checkpoint").status().message(), HasSubstr("--checkpoint is required"));
}

TEST(FlagParserTest, HelpIsSeenBeforeDoubleDash) {
  EXPECT_TRUE(WantsHelp({"--topk", "3", "-h"}));
  EXPECT_FALSE(WantsHelp({"--", "--help"}));
}

}  // namespace
}  // namespace vmae::tool
