#include "worker/data/synthetic/motion_dataset.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/data/synthetic/probe.h"

namespace vmae::synthetic {
namespace {

namespace fs = std::filesystem;
using probe::Lines;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using vmae::testing::TempDir;

// Tiny videos keep the tests fast.
MotionDatasetOptions Tiny(const std::string& out_dir) {
  MotionDatasetOptions o;
  o.out_dir = out_dir;
  o.classes = 4;
  o.videos_per_class = 3;
  o.frames = 16;
  o.width = 64;
  o.height = 48;
  o.gop = 8;
  o.val_fraction = 0.34;  // round(3 * 0.34) = 1 val video per class
  o.seed = 7;
  return o;
}

TEST(MotionDatasetTest, ValShareIsRoundedWithAtLeastOneAndOneLeftForTraining) {
  EXPECT_EQ(ValVideosPerClass(10, 0.2), 2);  // round(2.0)
  EXPECT_EQ(ValVideosPerClass(7, 0.2), 1);   // round(1.4)
  EXPECT_EQ(ValVideosPerClass(2, 0.2), 1);   // round(0.4) = 0, raised to 1
  EXPECT_EQ(ValVideosPerClass(3, 0.9), 2);   // round(2.7) = 3, capped at N - 1
  EXPECT_EQ(ValVideosPerClass(1, 0.5), 0);   // one video: it trains
  EXPECT_EQ(ValVideosPerClass(5, 0.0), 0);   // asked for none
}

TEST(MotionDatasetTest, WritesListsClassNamesAndEveryListedVideo) {
  TempDir dir;
  auto summary = GenerateMotionDataset(Tiny(dir.path()));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->train_videos, 8);
  EXPECT_EQ(summary->val_videos, 4);

  // Class k moves at 360k/4 degrees; the first ceil(4/2) one way.
  EXPECT_THAT(Lines(dir.File("classes.txt")), ElementsAre("oneway_000deg", "oneway_090deg",
                                                          "backforth_180deg", "backforth_270deg"));
  const std::vector<std::string> names = Lines(dir.File("classes.txt"));
  std::vector<std::string> expected_train, expected_val;
  for (int k = 0; k < 4; ++k) {
    for (int n = 0; n < 3; ++n) {
      (n < 2 ? expected_train : expected_val)
          .push_back(absl::StrCat("videos/", names[k], "/", n, ".mp4 ", k));
    }
  }
  EXPECT_EQ(Lines(dir.File("train.csv")), expected_train);
  EXPECT_EQ(Lines(dir.File("val.csv")), expected_val);
  for (const auto& list : {"train.csv", "val.csv"}) {
    for (const std::string& line : Lines(dir.File(list))) {
      const std::string path = dir.File(line.substr(0, line.find(' ')));
      EXPECT_TRUE(fs::exists(path)) << path;
    }
  }
  EXPECT_THAT(probe::UnfinishedFiles(dir.path()), IsEmpty());
}

TEST(MotionDatasetTest, VideosAreH264WithTheAskedFormat) {
  TempDir dir;
  MotionDatasetOptions o = Tiny(dir.path());
  o.classes = 2;
  o.videos_per_class = 1;
  o.fps = 30;
  ASSERT_TRUE(GenerateMotionDataset(o).ok());
  for (const char* rel : {"videos/oneway_000deg/0.mp4", "videos/backforth_180deg/0.mp4"}) {
    const std::string path = dir.File(rel);
    const auto s = probe::ProbeVideoStream(path);
    ASSERT_FALSE(s.empty()) << path;
    EXPECT_EQ(s.at("codec_name"), "h264");
    EXPECT_EQ(s.at("width"), "64");
    EXPECT_EQ(s.at("height"), "48");
    EXPECT_EQ(s.at("r_frame_rate"), "30/1");
    EXPECT_EQ(s.at("nb_read_packets"), "16");
    EXPECT_THAT(probe::KeyFrameIndices(path), ElementsAre(0, 8));
  }
}

// Every file under `dir` (relative path -> bytes).
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      files[fs::relative(e.path(), dir).string()] = probe::ReadFile(e.path().string());
    }
  }
  return files;
}

TEST(MotionDatasetTest, SameSeedGivesTheSameBytesWhateverTheThreadCount) {
  TempDir a, b, c;
  MotionDatasetOptions o = Tiny(a.path());
  o.threads = 1;
  ASSERT_TRUE(GenerateMotionDataset(o).ok());
  o.out_dir = b.path();
  o.threads = 3;
  ASSERT_TRUE(GenerateMotionDataset(o).ok());
  o.out_dir = c.path();
  o.seed = 8;
  ASSERT_TRUE(GenerateMotionDataset(o).ok());

  const auto fa = Files(a.path()), fb = Files(b.path()), fc = Files(c.path());
  ASSERT_EQ(fa.size(), 12u + 3u);  // videos + 2 lists + classes.txt
  EXPECT_TRUE(fa == fb) << "same seed, different bytes";
  int differing_videos = 0;
  for (const auto& [name, bytes] : fa) {
    if (absl::EndsWith(name, ".mp4") && fc.at(name) != bytes) ++differing_videos;
  }
  EXPECT_EQ(differing_videos, 12);
  EXPECT_EQ(fa.at("train.csv"), fc.at("train.csv"));  // lists depend on the shape only
}

// The "name value..." lines of motion_stats.py.
std::map<std::string, std::vector<double>> MotionStats(const std::vector<std::string>& videos) {
  std::string command = std::string("/usr/bin/python3 ") + VMAE_SOURCE_DIR +
                        "/tests/worker/data/synthetic/motion_stats.py";
  for (const std::string& v : videos) command += " " + v;
  std::string out;
  const int rc = probe::Shell(command, &out);
  EXPECT_EQ(rc, 0) << out;
  std::map<std::string, std::vector<double>> stats;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> words = absl::StrSplit(line, ' ');
    for (size_t i = 1; i < words.size(); ++i) {
      double v = 0;
      EXPECT_TRUE(absl::SimpleAtod(words[i], &v)) << line;
      stats[words[0]].push_back(v);
    }
  }
  return stats;
}

TEST(MotionDatasetTest, ClassesDifferOnlyInMotion) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir dir;
  ASSERT_TRUE(GenerateMotionDataset(Tiny(dir.path())).ok());
  const std::vector<std::string> videos = {
      dir.File("videos/oneway_000deg/0.mp4"), dir.File("videos/oneway_090deg/0.mp4"),
      dir.File("videos/backforth_180deg/0.mp4"), dir.File("videos/backforth_270deg/0.mp4"),
      dir.File("videos/oneway_000deg/1.mp4")};
  auto stats = MotionStats(videos);
  ASSERT_FALSE(stats.empty());

  for (int i = 0; i < 5; ++i) {
    const std::string v = absl::StrCat("v", i);
    EXPECT_EQ(stats[v + ".frames"][0], 16) << videos[i];
    // Every pair of consecutive frames differs: there is motion throughout.
    EXPECT_GT(stats[v + ".min_step_diff"][0], 0.1) << videos[i];
  }
  // Video 0 of every class is one scene: its first frame is the same up to
  // coding noise (a few gray levels on 100-odd small dots: x264's rate
  // control looks ahead at the differing frames), so no single frame tells
  // the class. Another scene (video 1) differs by far more.
  for (int i = 1; i <= 3; ++i) {
    EXPECT_LT(stats[absl::StrCat("first_frame_diff", i)][0], 5) << videos[i];
  }
  EXPECT_GT(stats["first_frame_diff4"][0], 10);

  // Global optical flow (u right, v down; pixels per frame). The shapes move
  // 1-1.4 pixels per frame at 2-3% of the 48-pixel short side; the
  // linearised flow underestimates steps over a pixel, hence the low bound.
  auto flow = [&](int video, int t) { return stats[absl::StrCat("v", video, ".flow", t)]; };
  for (int t = 0; t < 15; ++t) {
    // 0 degrees, one way: rightwards all the time.
    EXPECT_GT(flow(0, t)[0], 0.4) << "t=" << t;
    EXPECT_LT(std::abs(flow(0, t)[1]), std::abs(flow(0, t)[0]) / 2) << "t=" << t;
    // 90 degrees, one way: upwards (v < 0) all the time.
    EXPECT_LT(flow(1, t)[1], -0.4) << "t=" << t;
    EXPECT_LT(std::abs(flow(1, t)[0]), std::abs(flow(1, t)[1]) / 2) << "t=" << t;
  }
  // 180 degrees, back and forth with turns at frames 5 and 15: left for
  // frames 0-5, then right.
  for (int t = 0; t < 5; ++t) EXPECT_LT(flow(2, t)[0], -0.4) << "t=" << t;
  for (int t = 5; t < 15; ++t) EXPECT_GT(flow(2, t)[0], 0.4) << "t=" << t;
  // 270 degrees: down for frames 0-5, then up.
  for (int t = 0; t < 5; ++t) EXPECT_GT(flow(3, t)[1], 0.4) << "t=" << t;
  for (int t = 5; t < 15; ++t) EXPECT_LT(flow(3, t)[1], -0.4) << "t=" << t;
  // Without a tint the colours stay put: the dots wrap around, so the mean
  // chroma of a frame is the first frame's up to coding noise.
  for (int i = 0; i < 5; ++i) {
    for (int t = 1; t < 16; ++t) {
      const std::vector<double> c = stats[absl::StrCat("v", i, ".chroma", t)];
      ASSERT_EQ(c.size(), 2u);
      EXPECT_LT(std::abs(c[0]), 1.5) << videos[i] << " t=" << t;
      EXPECT_LT(std::abs(c[1]), 1.5) << videos[i] << " t=" << t;
    }
  }
}

TEST(MotionDatasetTest, TintDriftsTheChromaAlongTheClassAngle) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "needs /usr/bin/python3 with numpy";
  TempDir dir;
  MotionDatasetOptions o = Tiny(dir.path());
  o.tint_rate = 2;
  ASSERT_TRUE(GenerateMotionDataset(o).ok());
  const std::vector<std::string> videos = {
      dir.File("videos/oneway_000deg/0.mp4"), dir.File("videos/oneway_090deg/0.mp4"),
      dir.File("videos/backforth_180deg/0.mp4"), dir.File("videos/backforth_270deg/0.mp4")};
  auto stats = MotionStats(videos);
  ASSERT_FALSE(stats.empty());
  // Expected offset in ffmpeg's studio-range chroma: 2 levels per frame of
  // full-range Cb/Cr, times 224/255, times the pattern's unit distance;
  // clipping of bright dots at 255 takes a little off, hence the tolerance.
  const double studio = 224.0 / 255.0;
  auto chroma = [&](int video, int t) { return stats[absl::StrCat("v", video, ".chroma", t)]; };
  auto near = [](double got, double want) { return std::abs(got - want) <= 0.2 * std::abs(want) + 1.5; };
  // 0 degrees one way: Cb up 2 per frame, Cr unchanged.
  EXPECT_TRUE(near(chroma(0, 15)[0], 2 * 15 * studio)) << chroma(0, 15)[0];
  EXPECT_TRUE(near(chroma(0, 15)[1], 0)) << chroma(0, 15)[1];
  // 90 degrees one way: Cr up.
  EXPECT_TRUE(near(chroma(1, 15)[1], 2 * 15 * studio)) << chroma(1, 15)[1];
  EXPECT_TRUE(near(chroma(1, 15)[0], 0)) << chroma(1, 15)[0];
  // 180 degrees back and forth: Cb down 5 frames' worth at frame 5, back
  // through 0 at frame 10, up 5 frames' worth at frame 15.
  EXPECT_TRUE(near(chroma(2, 5)[0], -2 * 5 * studio)) << chroma(2, 5)[0];
  EXPECT_TRUE(near(chroma(2, 10)[0], 0)) << chroma(2, 10)[0];
  EXPECT_TRUE(near(chroma(2, 15)[0], 2 * 5 * studio)) << chroma(2, 15)[0];
  // 270 degrees back and forth: Cr the same way.
  EXPECT_TRUE(near(chroma(3, 5)[1], -2 * 5 * studio)) << chroma(3, 5)[1];
  EXPECT_TRUE(near(chroma(3, 15)[1], 2 * 5 * studio)) << chroma(3, 15)[1];
}

TEST(MotionDatasetTest, RejectsOutOfRangeOptionsNamingThem) {
  TempDir dir;
  MotionDatasetOptions o = Tiny(dir.path());
  o.classes = 1;
  auto s = GenerateMotionDataset(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("classes"));
  o = Tiny(dir.path());
  o.width = 65;
  s = GenerateMotionDataset(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("65x48"));
  o = Tiny(dir.path());
  o.tint_rate = -1;
  s = GenerateMotionDataset(o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("tint_rate"));
  o = Tiny(dir.path());
  o.val_fraction = 1;
  EXPECT_EQ(GenerateMotionDataset(o).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir.File("train.csv")));
}

TEST(MotionDatasetTest, OutputUnderAFileFailsNamingTheFolder) {
  // A regular file where a folder should be: fails for root too.
  TempDir dir;
  probe::Shell("touch " + dir.File("file"), nullptr);
  auto s = GenerateMotionDataset(Tiny(dir.File("file/set")));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("file/set"));
}

}  // namespace
}  // namespace vmae::synthetic
