// `vmae datagen` and `vmae prepare` end to end: the real binary, checked
// with ffprobe and by reading the files it writes.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"

namespace vmae::tool {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using vmae::testing::BinaryPath;
using vmae::testing::RunCommand;
using vmae::testing::TempDir;

// The tool's documented exit codes (worker/tool/exit_codes.h, `vmae --help`).
constexpr int kOk = 0, kUsage = 2, kNotFound = 5;

int Vmae(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), BinaryPath("vmae"));
  return RunCommand(args, out, {}, 120);
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// ffprobe's width,height,packet count of a video.
std::string Probe(const std::string& path) {
  std::string out;
  RunCommand({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries",
              "stream=width,height,nb_read_packets", "-of", "csv=p=0", path},
             &out);
  return std::string(absl::StripTrailingAsciiWhitespace(out));
}

// A tiny data set: 2 classes x 3 videos of 64x48, 12 frames.
std::vector<std::string> TinyDatagen(const std::string& out_dir) {
  return {"datagen", "--out",  out_dir, "--classes", "2", "--videos-per-class", "3",   "--frames",
          "12",      "--size", "64x48", "--gop",     "4", "--val-fraction",     "0.34"};
}

TEST(DatagenCliTest, WritesTheSetAndOnlyTheSummary) {
  TempDir dir;
  const std::string set = dir.File("set");
  std::string out;
  ASSERT_EQ(Vmae(TinyDatagen(set), &out), kOk) << out;
  // stdout and stderr together: the summary and nothing else.
  EXPECT_EQ(out, absl::StrCat("wrote 6 videos (4 train, 2 val) to ", set, "\n"));
  EXPECT_EQ(Lines(set + "/classes.txt"),
            (std::vector<std::string>{"oneway_000deg", "backforth_180deg"}));
  EXPECT_EQ(Lines(set + "/train.csv"),
            (std::vector<std::string>{
                "videos/oneway_000deg/0.mp4 0", "videos/oneway_000deg/1.mp4 0",
                "videos/backforth_180deg/0.mp4 1", "videos/backforth_180deg/1.mp4 1"}));
  EXPECT_EQ(Lines(set + "/val.csv"), (std::vector<std::string>{"videos/oneway_000deg/2.mp4 0",
                                                               "videos/backforth_180deg/2.mp4 1"}));
  EXPECT_EQ(Probe(set + "/videos/backforth_180deg/2.mp4"), "64,48,12");
}

TEST(DatagenCliTest, RejectsBadFlagsWithUsageErrors) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string out_dir = dir.File("set");
  std::ofstream(dir.File("a_file")) << "x";
  const std::vector<Case> cases = {
      {{"datagen", "--out", out_dir, "--classes", "1", "--videos-per-class", "2"}, "--classes"},
      {{"datagen", "--out", out_dir, "--classes", "x", "--videos-per-class", "2"}, "--classes"},
      {{"datagen", "--out", out_dir, "--classes", "2", "--videos-per-class", "0"},
       "--videos-per-class"},
      {{"datagen", "--out", out_dir, "--classes", "2"}, "--videos-per-class is required"},
      {{"datagen", "--classes", "2", "--videos-per-class", "2"}, "--out is required"},
      {{"datagen", "--out", out_dir, "--classes", "2", "--videos-per-class", "2", "--size",
        "64x47"},
       "--size=64x47"},
      {{"datagen", "--out", out_dir, "--classes", "2", "--videos-per-class", "2", "--size", "64"},
       "not WxH"},
      {{"datagen", "--out", out_dir, "--classes", "2", "--videos-per-class", "2", "--fps", "0"},
       "--fps"},
      {{"datagen", "--out", out_dir, "--classes", "2", "--videos-per-class", "2", "--val-fraction",
        "1"},
       "--val-fraction"},
      {{"datagen", "--out", out_dir, "--classes", "2", "--videos-per-class", "2", "--seed", "-1"},
       "--seed"},
      {{"datagen", "--out", dir.File("a_file/set"), "--classes", "2", "--videos-per-class", "2"},
       "not a writable folder"},
      {{"datagen", "--out", out_dir, "--clases", "2"}, "did you mean --classes"},
  };
  for (const Case& c : cases) {
    std::string out;
    EXPECT_EQ(Vmae(c.args, &out), kUsage) << absl::StrJoin(c.args, " ") << "\n" << out;
    EXPECT_THAT(out, StartsWith("vmae datagen: ")) << absl::StrJoin(c.args, " ");
    EXPECT_THAT(out, HasSubstr(c.message)) << absl::StrJoin(c.args, " ");
    // One line.
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  }
  EXPECT_FALSE(fs::exists(out_dir + "/train.csv"));
}

TEST(DatagenCliTest, HelpListsTheFlags) {
  std::string out;
  EXPECT_EQ(Vmae({"datagen", "--help"}, &out), kOk);
  EXPECT_THAT(out, HasSubstr("--videos-per-class"));
  EXPECT_EQ(Vmae({"prepare", "--help"}, &out), kOk);
  EXPECT_THAT(out, HasSubstr("--short-side"));
  EXPECT_EQ(Vmae({"--help"}, &out), kOk);
  EXPECT_THAT(out, HasSubstr("datagen"));
  EXPECT_THAT(out, HasSubstr("prepare"));
}

TEST(DatagenCliTest, PrepareReencodesAListAndResumes) {
  TempDir dir;
  const std::string set = dir.File("set");
  const std::string fast = dir.File("fast");
  std::string out;
  ASSERT_EQ(Vmae(TinyDatagen(set), &out), kOk) << out;

  ASSERT_EQ(Vmae({"prepare", "--in", set + "/train.csv", "--out", fast, "--short-side", "32",
                  "--gop", "4", "--threads", "2"},
                 &out),
            kOk)
      << out;
  EXPECT_EQ(out, absl::StrCat("prepared 4 of 4 videos into ", fast,
                              " (4 re-encoded, 0 already up to date)\n"));
  EXPECT_EQ(Lines(fast + "/train.csv"), Lines(set + "/train.csv"));
  // 64x48 -> short side 32, long side 2 * round(64 * 32 / 48 / 2) = 42.
  EXPECT_EQ(Probe(fast + "/videos/oneway_000deg/0.mp4"), "42,32,12");

  ASSERT_EQ(
      Vmae({"prepare", "--in", set + "/train.csv", "--out", fast, "--short-side", "32"}, &out), kOk)
      << out;
  EXPECT_EQ(out, absl::StrCat("prepared 4 of 4 videos into ", fast,
                              " (0 re-encoded, 4 already up to date)\n"));
}

TEST(DatagenCliTest, PrepareReportsAFailedVideoAndKeepsTheRest) {
  TempDir dir;
  const std::string set = dir.File("set");
  std::string out;
  ASSERT_EQ(Vmae(TinyDatagen(set), &out), kOk) << out;
  std::ofstream(set + "/videos/oneway_000deg/1.mp4", std::ios::trunc) << std::string(2000, 'x');
  ASSERT_EQ(
      Vmae({"prepare", "--in", set + "/train.csv", "--out", dir.File("fast"), "--short-side", "0"},
           &out),
      kOk)
      << out;
  EXPECT_THAT(out, HasSubstr("vmae prepare: skipped videos/oneway_000deg/1.mp4: "));
  EXPECT_THAT(out, HasSubstr("prepared 3 of 4 videos"));
  EXPECT_THAT(out, HasSubstr("1 failed"));
  EXPECT_EQ(Lines(dir.File("fast/train.csv")).size(), 3u);
}

TEST(DatagenCliTest, PrepareRejectsBadFlags) {
  TempDir dir;
  std::string out;
  EXPECT_EQ(Vmae({"prepare", "--in", dir.File("none.csv"), "--out", dir.File("o")}, &out),
            kNotFound)
      << out;
  EXPECT_THAT(out, HasSubstr("none.csv"));
  std::ofstream(dir.File("list.csv")) << "a.mp4 0\n";
  EXPECT_EQ(
      Vmae({"prepare", "--in", dir.File("list.csv"), "--out", dir.File("o"), "--short-side", "33"},
           &out),
      kUsage);
  EXPECT_THAT(out, HasSubstr("--short-side=33"));
  EXPECT_EQ(
      Vmae({"prepare", "--in", dir.File("list.csv"), "--out", dir.File("o"), "--crf", "60"}, &out),
      kUsage);
  EXPECT_THAT(out, HasSubstr("--crf=60"));
  EXPECT_EQ(Vmae({"prepare", "--out", dir.File("o")}, &out), kUsage);
  EXPECT_THAT(out, HasSubstr("--in is required"));
  EXPECT_EQ(Vmae({"prepare", "--in", dir.File("list.csv"), "--out", dir.path()}, &out), kUsage);
  EXPECT_THAT(out, HasSubstr("input root"));
}

}  // namespace
}  // namespace vmae::tool
