#include "worker/data/synthetic/reencode.h"

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/data/synthetic/probe.h"
#include "worker/data/synthetic/video_writer.h"

extern "C" {
#include <libavutil/display.h>
}

namespace vmae::synthetic {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using vmae::testing::TempDir;

// An input made by the ffmpeg tool: `frames` frames of a flat picture whose
// luma in frame n is 20 + (23 n mod 200), so each frame is recognisable by
// its mean; MPEG-4 Part 2 with one keyframe at the start.
std::string MakeInput(const TempDir& dir, const std::string& name, int width, int height,
                      int frames, const std::string& extra = "") {
  const std::string path = dir.File(name);
  std::string out;
  const int rc = probe::Shell(
      absl::StrCat("ffmpeg -v error -y -f lavfi -i color=gray:size=", width, "x", height,
                   ":rate=25 -vf \"geq=lum='20+mod(23*N,200)':cb=128:cr=128\" -frames:v ", frames,
                   " -c:v mpeg4 -g 1000 -q:v 2 ", extra, " '", path, "'"),
      &out);
  EXPECT_EQ(rc, 0) << out;
  return path;
}

TEST(ReencodeTest, ScaledSizeMatchesFfmpegsScaleMinusTwo) {
  // Hand-worked: 480x360 -> 480 * 320 / 360 = 426.67 -> 2 * round(213.33) = 426,
  // as `ffmpeg -vf scale=-2:320` gives.
  EXPECT_EQ(ScaledSize(480, 360, 320), std::make_pair(426, 320));
  EXPECT_EQ(ScaledSize(360, 480, 320), std::make_pair(320, 426));
  EXPECT_EQ(ScaledSize(1920, 1080, 320), std::make_pair(568, 320));  // 568.9 -> 568
  EXPECT_EQ(ScaledSize(320, 320, 320), std::make_pair(320, 320));
  EXPECT_EQ(ScaledSize(101, 75, 0), std::make_pair(100, 74));  // keep, trimmed to even
}

TEST(ReencodeTest, ShortSideBecomes320WithEveryFrameInOrderAndKeyframesEvery16) {
  TempDir dir;
  const std::string in = MakeInput(dir, "in.avi", 480, 360, 40);
  const std::string out = dir.File("out/sub/out.mp4");
  auto result = ReencodeVideo(in, out, ReencodeOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->frames, 40);
  EXPECT_EQ(result->width, 426);
  EXPECT_EQ(result->height, 320);

  const auto s = probe::ProbeVideoStream(out);
  EXPECT_EQ(s.at("codec_name"), "h264");
  EXPECT_EQ(s.at("width"), "426");
  EXPECT_EQ(s.at("height"), "320");
  EXPECT_EQ(s.at("nb_read_packets"), "40");
  EXPECT_EQ(s.at("r_frame_rate"), "25/1");
  EXPECT_THAT(probe::KeyFrameIndices(out), ElementsAre(0, 16, 32));

  // Frame n keeps its own brightness: nothing dropped, doubled or reordered.
  const std::vector<double> in_means = probe::FrameMeans(probe::DecodeGray(in, dir.path()));
  const std::vector<double> out_means = probe::FrameMeans(probe::DecodeGray(out, dir.path()));
  ASSERT_EQ(in_means.size(), 40u);
  ASSERT_EQ(out_means.size(), 40u);
  for (int n = 0; n < 40; ++n) EXPECT_NEAR(out_means[n], in_means[n], 3) << "frame " << n;
  EXPECT_THAT(probe::UnfinishedFiles(dir.path()), IsEmpty());
}

TEST(ReencodeTest, PortraitInputGetsA320Width) {
  TempDir dir;
  const std::string in = MakeInput(dir, "in.mp4", 360, 480, 5);
  ReencodeOptions options;
  options.gop = 2;
  ASSERT_TRUE(ReencodeVideo(in, dir.File("out.mp4"), options).ok());
  const auto s = probe::ProbeVideoStream(dir.File("out.mp4"));
  EXPECT_EQ(s.at("width"), "320");
  EXPECT_EQ(s.at("height"), "426");
  EXPECT_EQ(s.at("nb_read_packets"), "5");
  EXPECT_THAT(probe::KeyFrameIndices(dir.File("out.mp4")), ElementsAre(0, 2, 4));
}

TEST(ReencodeTest, KeepsTheRotationOfTheInput) {
  // An input whose stream says "rotate by 90 degrees" (a display matrix,
  // checked with ffprobe first); ffmpeg 5.1's command line cannot write one.
  // The pictures stay unrotated (64x48) and the matrix is carried over.
  TempDir dir;
  const std::string in = dir.File("in.mp4");
  EncodeOptions encode;
  encode.display_matrix.resize(9);
  av_display_rotation_set(encode.display_matrix.data(), 90);
  auto w = VideoWriter::Open(in, 64, 48, 25, encode);
  ASSERT_TRUE(w.ok()) << w.status();
  const std::vector<uint8_t> rgb(64 * 48 * 3, 100);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->WriteRgb(rgb.data(), 64 * 3).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  const std::string in_rotation = probe::Rotation(in);
  ASSERT_TRUE(in_rotation == "90" || in_rotation == "-90") << in_rotation;

  ReencodeOptions options;
  options.short_side = 0;
  ASSERT_TRUE(ReencodeVideo(in, dir.File("out.mp4"), options).ok());
  EXPECT_EQ(probe::Rotation(dir.File("out.mp4")), in_rotation);
  EXPECT_EQ(probe::ProbeVideoStream(dir.File("out.mp4")).at("width"), "64");
  // And an input without one gets none.
  ASSERT_TRUE(
      ReencodeVideo(MakeInput(dir, "plain.mp4", 64, 48, 3), dir.File("plain_out.mp4"), options)
          .ok());
  EXPECT_EQ(probe::Rotation(dir.File("plain_out.mp4")), "");
}

TEST(ReencodeTest, MissingInputIsNotFound) {
  TempDir dir;
  auto r = ReencodeVideo(dir.File("none.mp4"), dir.File("out.mp4"), ReencodeOptions());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir.File("out.mp4")));
}

TEST(ReencodeTest, CorruptInputFailsAndLeavesNoOutput) {
  TempDir dir;
  // Noise and zeros: no format FFmpeg recognises.
  std::string out;
  ASSERT_EQ(probe::Shell("head -c 64 /dev/urandom > " + dir.File("bad.mp4") +
                             " && head -c 4096 /dev/zero >> " + dir.File("bad.mp4"),
                         &out),
            0)
      << out;
  auto r = ReencodeVideo(dir.File("bad.mp4"), dir.File("out/bad.mp4"), ReencodeOptions());
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(dir.File("out/bad.mp4")));
  EXPECT_THAT(probe::UnfinishedFiles(dir.path()), IsEmpty());
}

TEST(ReencodeTest, RejectsAnOddShortSide) {
  TempDir dir;
  ReencodeOptions options;
  options.short_side = 321;
  EXPECT_EQ(ReencodeVideo(dir.File("in.mp4"), dir.File("out.mp4"), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmae::synthetic
