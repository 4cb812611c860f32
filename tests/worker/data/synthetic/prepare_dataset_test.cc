#include "worker/data/synthetic/prepare_dataset.h"

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/data/synthetic/probe.h"

namespace vmae::synthetic {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using vmae::testing::TempDir;

class PrepareDatasetTest : public ::testing::Test {
 protected:
  // in/: a.mp4, sub/b.avi, c.mkv (64x48, 12 frames, made by the ffmpeg
  // tool), bad.mp4 (noise) and list.csv naming all four.
  void SetUp() override {
    in_ = dir_.File("in");
    out_ = dir_.File("out");
    fs::create_directories(in_ + "/sub");
    for (const char* name : {"a.mp4", "sub/b.avi", "c.mkv"}) {
      std::string log;
      ASSERT_EQ(probe::Shell(absl::StrCat("ffmpeg -v error -y -f lavfi -i "
                                          "testsrc2=size=64x48:rate=25 -frames:v 12 -c:v mpeg4 '",
                                          in_, "/", name, "'"),
                             &log),
                0)
          << log;
    }
    std::string log;
    ASSERT_EQ(probe::Shell("head -c 3000 /dev/urandom > " + in_ + "/bad.mp4", &log), 0);
    Write(in_ + "/list.csv", "a.mp4 0\nsub/b.avi 1\nbad.mp4 2\nc.mkv 1\n");
    options_.short_side = 32;
    options_.gop = 4;
  }

  static void Write(const std::string& path, const std::string& text) {
    std::string log;
    probe::Shell("printf '%s' '" + text + "' > '" + path + "'", &log);
  }
  std::vector<std::string> OutList() { return probe::Lines(out_ + "/list.csv"); }

  TempDir dir_;
  std::string in_, out_;
  ReencodeOptions options_;
};

TEST_F(PrepareDatasetTest, SkipsTheCorruptInputCountsItAndListsTheGoodOnes) {
  auto s = PrepareDataset(in_ + "/list.csv", in_, out_, options_, 2);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->listed, 4);
  EXPECT_EQ(s->reencoded, 3);
  EXPECT_EQ(s->up_to_date, 0);
  EXPECT_EQ(s->failed, 1);
  ASSERT_EQ(s->failures.size(), 1u);
  EXPECT_TRUE(absl::StartsWith(s->failures[0], "bad.mp4: ")) << s->failures[0];
  EXPECT_EQ(s->out_list, out_ + "/list.csv");
  EXPECT_THAT(OutList(), ElementsAre("a.mp4 0", "sub/b.avi 1", "c.mkv 1"));

  for (const char* name : {"a.mp4", "sub/b.avi", "c.mkv"}) {
    const auto p = probe::ProbeVideoStream(out_ + "/" + name);
    ASSERT_FALSE(p.empty()) << name;
    EXPECT_EQ(p.at("codec_name"), "h264") << name;
    EXPECT_EQ(p.at("width"), "42") << name;  // 64 * 32 / 48 = 42.67 -> 2 * round(21.33)
    EXPECT_EQ(p.at("height"), "32") << name;
    EXPECT_EQ(p.at("nb_read_packets"), "12") << name;
    EXPECT_THAT(probe::KeyFrameIndices(out_ + "/" + name), ElementsAre(0, 4, 8)) << name;
  }
  EXPECT_FALSE(fs::exists(out_ + "/bad.mp4"));
  EXPECT_THAT(probe::UnfinishedFiles(out_), IsEmpty());
}

TEST_F(PrepareDatasetTest, SecondRunKeepsUpToDateOutputsAndRedoesChangedInputs) {
  ASSERT_TRUE(PrepareDataset(in_ + "/list.csv", in_, out_, options_, 2).ok());
  const auto a_time = fs::last_write_time(out_ + "/a.mp4");

  auto again = PrepareDataset(in_ + "/list.csv", in_, out_, options_, 2);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->reencoded, 0);
  EXPECT_EQ(again->up_to_date, 3);
  EXPECT_EQ(again->failed, 1);
  EXPECT_EQ(fs::last_write_time(out_ + "/a.mp4"), a_time);

  // An input changed after its output was written is done again.
  fs::last_write_time(in_ + "/sub/b.avi",
                      fs::last_write_time(out_ + "/sub/b.avi") + std::chrono::seconds(5));
  auto third = PrepareDataset(in_ + "/list.csv", in_, out_, options_, 1);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->reencoded, 1);
  EXPECT_EQ(third->up_to_date, 2);
  EXPECT_THAT(OutList(), ElementsAre("a.mp4 0", "sub/b.avi 1", "c.mkv 1"));
}

// The list is read with the training's reader (worker/data/manifest/), so a
// list it would reject is rejected here, before any video is re-encoded.
TEST_F(PrepareDatasetTest, ALineTheTrainingWouldRejectFailsTheListNamingTheLine) {
  for (const char* text :
       {"a.mp4 0\n../x.mp4 1\n", "a.mp4 0\n/abs/y.mp4 1\n", "a.mp4 0\nc.mkv cat\n"}) {
    Write(in_ + "/list.csv", text);
    auto s = PrepareDataset(in_ + "/list.csv", in_, out_, options_, 1);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("list.csv:2: ")) << text;
    EXPECT_FALSE(fs::exists(out_ + "/a.mp4")) << text;
    EXPECT_FALSE(fs::exists(out_ + "/list.csv")) << text;
  }
  Write(in_ + "/list.csv", "\n\n");
  EXPECT_EQ(PrepareDataset(in_ + "/list.csv", in_, out_, options_, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PrepareDatasetTest, SkipsBlankLinesAndCrlfAndWritesNormalisedPaths) {
  Write(in_ + "/list.csv", "./a.mp4 0\r\n\r\nsub/../c.mkv\t7\r\n");
  // A root with a trailing slash names the same folder.
  auto s = PrepareDataset(in_ + "/list.csv", in_ + "/", out_, options_, 1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->reencoded, 2);
  EXPECT_EQ(probe::ReadFile(out_ + "/list.csv"), "a.mp4 0\nc.mkv 7\n");
  EXPECT_TRUE(fs::exists(out_ + "/c.mkv"));
}

TEST_F(PrepareDatasetTest, PathsWithSpacesComeFromCsvAndGoBackAsCsv) {
  fs::rename(in_ + "/a.mp4", in_ + "/my clip.mp4");
  Write(in_ + "/list.csv", "path,label\n\"my clip.mp4\",3\nsub/b.avi,1\n");
  auto s = PrepareDataset(in_ + "/list.csv", in_, out_, options_, 2);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->reencoded, 2);
  // The space-separated format cannot hold "my clip.mp4": CSV, paths quoted.
  EXPECT_EQ(probe::ReadFile(out_ + "/list.csv"),
            "path,label\n\"my clip.mp4\",3\n\"sub/b.avi\",1\n");
  EXPECT_EQ(probe::ProbeVideoStream(out_ + "/my clip.mp4")["nb_read_packets"], "12");
}

TEST_F(PrepareDatasetTest, AllFailingIsAnErrorAndWritesNoList) {
  Write(in_ + "/list.csv", "bad.mp4 0\nmissing.mp4 1\n");
  auto s = PrepareDataset(in_ + "/list.csv", in_, out_, options_, 1);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("none of the 2 videos"));
  EXPECT_FALSE(fs::exists(out_ + "/list.csv"));
}

TEST_F(PrepareDatasetTest, RefusesToWriteOverTheInputs) {
  auto s = PrepareDataset(in_ + "/list.csv", in_, in_ + "/", options_, 1);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("input root"));
}

TEST_F(PrepareDatasetTest, MissingListIsNotFound) {
  EXPECT_EQ(PrepareDataset(in_ + "/none.csv", in_, out_, options_, 1).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vmae::synthetic
