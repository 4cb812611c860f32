#include "worker/data/manifest/manifest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace vmae::data {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

MATCHER_P3(IsEntry, path, label, line, "") {
  return arg.path == path && arg.label == label && arg.line == line;
}

absl::Status ErrorOf(std::string_view text, std::string_view name = "train.csv") {
  auto parsed = ParseManifest(text, name, "/data/k400");
  return parsed.ok() ? absl::OkStatus() : parsed.status();
}

TEST(ManifestTest, ParsesTheAuthorsSpaceSeparatedLists) {
  auto entries =
      ParseManifest("videos/a.mp4 3\n./videos/sub/../b.mp4\t17\n", "train.csv", "/data/");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries, ElementsAre(IsEntry("/data/videos/a.mp4", 3, 1),
                                    IsEntry("/data/videos/b.mp4", 17, 2)));
}

// Space-separated paths cannot hold spaces: "my clip.mp4 3" is three fields
// whose middle one is not an integer. The message says to use CSV.
TEST(ManifestTest, PathsWithSpacesNeedCsv) {
  const absl::Status status = ErrorOf("a.mp4 1\nmy clip.mp4 3\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("train.csv:2:"), HasSubstr("CSV")));
}

TEST(ManifestTest, ParsesVideoMaeV2ThreeFieldLines) {
  auto entries = ParseManifest("k400/x.mp4 0 -1\nk400/y.mp4 0 300\n", "pretrain.txt", "/data");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries,
              ElementsAre(IsEntry("/data/k400/x.mp4", -1, 1), IsEntry("/data/k400/y.mp4", -1, 2)));
}

TEST(ManifestTest, ParsesCsvWithHeaderQuotesAndCrlf) {
  const std::string text =
      "path,label\r\n"
      "\"clips/with, comma.mp4\",4\r\n"
      "\r\n"
      "clips/plain name.mp4 , 5\r\n"
      "\"clips/say \"\"hi\"\".mp4\",-1\r\n";
  auto entries = ParseManifest(text, "val.csv", "/data/ssv2");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries, ElementsAre(IsEntry("/data/ssv2/clips/with, comma.mp4", 4, 2),
                                    IsEntry("/data/ssv2/clips/plain name.mp4", 5, 4),
                                    IsEntry("/data/ssv2/clips/say \"hi\".mp4", -1, 5)));
}

TEST(ManifestTest, DetectsCsvWithoutHeader) {
  auto entries = ParseManifest("my videos/a.mp4,1\nb.mp4,2\n", "train.csv", "/d");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries,
              ElementsAre(IsEntry("/d/my videos/a.mp4", 1, 1), IsEntry("/d/b.mp4", 2, 2)));
}

TEST(ManifestTest, SkipsBlankLinesAndKeepsLineNumbers) {
  auto entries = ParseManifest("\n\n  \na.mp4 1\n\n\nb.mp4 2", "l.txt", "/r");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries, ElementsAre(IsEntry("/r/a.mp4", 1, 4), IsEntry("/r/b.mp4", 2, 7)));
}

TEST(ManifestTest, RelativeRootIsMadeAbsolute) {
  auto entries = ParseManifest("a.mp4 1\n", "l.txt", "data");
  ASSERT_TRUE(entries.ok()) << entries.status();
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
  EXPECT_EQ((*entries)[0].path, std::string(cwd) + "/data/a.mp4");
}

TEST(ManifestTest, RejectsLabelThatIsNotAnInteger) {
  const absl::Status status = ErrorOf("a.mp4 1\nb.mp4 1\nc.mp4 abc\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("train.csv:3: label 'abc' is not an integer; each line "
                                          "must be 'path label'"));
  EXPECT_THAT(
      ErrorOf("path,label\na.mp4,x\n").message(),
      HasSubstr("train.csv:2: label 'x' is not an integer; each line must be 'path,label'"));
}

TEST(ManifestTest, RejectsNegativeLabels) {
  EXPECT_THAT(ErrorOf("a.mp4 -2\n").message(), HasSubstr("train.csv:1: label -2 is negative"));
}

TEST(ManifestTest, RejectsWrongFieldCounts) {
  EXPECT_THAT(ErrorOf("a.mp4 1\nb.mp4\n").message(),
              HasSubstr("train.csv:2: found 1 space-separated fields, expected 2 or 3"));
  EXPECT_THAT(ErrorOf("a.mp4 1\nb c d e 1\n").message(),
              HasSubstr("train.csv:2: found 5 space-separated fields"));
  EXPECT_THAT(ErrorOf("a.mp4 1\nb.mp4 x 1\n").message(),
              HasSubstr("train.csv:2: 'x 1' are not the integer start and frame count"));
  EXPECT_THAT(ErrorOf("a.mp4,1\nb.mp4,1,2\n").message(),
              HasSubstr("train.csv:2: found 3 comma-separated fields, expected 2"));
}

TEST(ManifestTest, RejectsBrokenQuotes) {
  EXPECT_THAT(ErrorOf("path,label\n\"a.mp4,1\n").message(),
              HasSubstr("train.csv:2: the quote at column 1 is never closed"));
  EXPECT_THAT(ErrorOf("path,label\n\"a\"b.mp4,1\n").message(),
              HasSubstr("train.csv:2: unexpected text after the quoted field at column 4"));
}

TEST(ManifestTest, RejectsAbsolutePaths) {
  const absl::Status status = ErrorOf("a.mp4 1\n/etc/passwd 1\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("train.csv:2: path '/etc/passwd' is absolute"));
}

TEST(ManifestTest, RejectsPathsThatEscapeTheRoot) {
  EXPECT_THAT(ErrorOf("../k600/a.mp4 1\n").message(),
              HasSubstr("train.csv:1: path '../k600/a.mp4' leads out of the data root"));
  EXPECT_THAT(ErrorOf("a.mp4 1\nx/../../b.mp4 1\n").message(),
              HasSubstr("train.csv:2: path 'x/../../b.mp4' leads out of the data root"));
  EXPECT_THAT(ErrorOf("x/.. 1\n").message(), HasSubstr("names the data root itself"));
  // ".." inside the root is fine.
  auto ok = ParseManifest("x/../b.mp4 1\n", "l", "/data/k400");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)[0].path, "/data/k400/b.mp4");
}

TEST(ManifestTest, RejectsEmptyLists) {
  for (const char* text : {"", "\n\n", "path,label\n", " \r\n\t\n"}) {
    const absl::Status status = ErrorOf(text);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "'" << text << "'";
    EXPECT_THAT(status.message(), HasSubstr("train.csv: the list has no videos")) << text;
  }
}

TEST(ManifestTest, ReadsAListFromTheDataRoot) {
  testing::TempDir dir;
  ASSERT_EQ(mkdir(dir.File("lists").c_str(), 0755), 0);
  {
    std::ofstream out(dir.File("lists/train.csv"), std::ios::binary);
    out << "v/a.mp4 1\nv/b.mp4 x\n";
  }
  auto bad = ReadManifest(dir.path(), "lists/train.csv");
  EXPECT_THAT(bad.status().message(), HasSubstr("lists/train.csv:2: label 'x'"));
  {
    std::ofstream out(dir.File("lists/train.csv"), std::ios::binary | std::ios::trunc);
    out << "v/a.mp4 1\nv/b.mp4 2\n";
  }
  auto entries = ReadManifest(dir.path(), "lists/train.csv");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_THAT(*entries, ElementsAre(IsEntry(dir.path() + "/v/a.mp4", 1, 1),
                                    IsEntry(dir.path() + "/v/b.mp4", 2, 2)));
}

TEST(ManifestTest, MissingListIsNotFound) {
  testing::TempDir dir;
  auto entries = ReadManifest(dir.path(), "nope.csv");
  EXPECT_EQ(entries.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(entries.status().message(), AllOf(HasSubstr("nope.csv"), HasSubstr("data.root")));
}

}  // namespace
}  // namespace vmae::data
