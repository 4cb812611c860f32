#include "worker/data/synthetic/video_writer.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/data/synthetic/probe.h"

namespace vmae::synthetic {
namespace {

using probe::FrameMeans;
using probe::KeyFrameIndices;
using probe::ProbeVideoStream;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using vmae::testing::TempDir;

// A width x height RGB picture whose colours depend on `t`, so frames differ.
std::vector<uint8_t> Gradient(int width, int height, int t) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>((x * 4 + t * 7) % 256);
      p[1] = static_cast<uint8_t>((y * 5) % 256);
      p[2] = static_cast<uint8_t>((x + y + t * 3) % 256);
    }
  }
  return rgb;
}

absl::Status WriteVideo(const std::string& path, int width, int height, double fps, int frames,
                        const EncodeOptions& options) {
  absl::StatusOr<std::unique_ptr<VideoWriter>> w =
      VideoWriter::Open(path, width, height, fps, options);
  if (!w.ok()) return w.status();
  for (int t = 0; t < frames; ++t) {
    const std::vector<uint8_t> rgb = Gradient(width, height, t);
    absl::Status s = (*w)->WriteRgb(rgb.data(), width * 3);
    if (!s.ok()) return s;
  }
  return (*w)->Finish();
}

TEST(VideoWriterTest, WritesH264WithTheAskedSizeFrameCountRateAndKeyframes) {
  TempDir dir;
  const std::string path = dir.File("out.mp4");
  EncodeOptions options;
  options.gop = 8;
  ASSERT_TRUE(WriteVideo(path, 64, 48, 12.5, 20, options).ok());

  const auto s = ProbeVideoStream(path);
  EXPECT_EQ(s.at("codec_name"), "h264");
  EXPECT_EQ(s.at("width"), "64");
  EXPECT_EQ(s.at("height"), "48");
  EXPECT_EQ(s.at("pix_fmt"), "yuv420p");
  EXPECT_EQ(s.at("r_frame_rate"), "25/2");
  EXPECT_EQ(s.at("nb_read_packets"), "20");
  // Exactly every 8 frames: 0, 8, 16, and no scene-cut keyframes between.
  EXPECT_THAT(KeyFrameIndices(path), ElementsAre(0, 8, 16));
  EXPECT_THAT(probe::UnfinishedFiles(dir.path()), ::testing::IsEmpty());
}

// A writer of 32x32 frames to `path` with one frame written; null (and a
// test failure) when that fails.
std::unique_ptr<VideoWriter> WriterWithOneFrame(const std::string& path) {
  auto w = VideoWriter::Open(path, 32, 32, 25, EncodeOptions());
  EXPECT_TRUE(w.ok()) << w.status();
  if (!w.ok()) return nullptr;
  const std::vector<uint8_t> rgb = Gradient(32, 32, 0);
  const absl::Status s = (*w)->WriteRgb(rgb.data(), 32 * 3);
  EXPECT_TRUE(s.ok()) << s;
  if (!s.ok()) return nullptr;
  return std::move(*w);
}

TEST(VideoWriterTest, FileAppearsOnlyWhenFinished) {
  TempDir dir;
  const std::string path = dir.File("out.mp4");
  std::unique_ptr<VideoWriter> w = WriterWithOneFrame(path);
  ASSERT_NE(w, nullptr);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::exists(path + ".partial"));
  ASSERT_TRUE(w->Finish().ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
  EXPECT_EQ(w->frames_written(), 1);
}

TEST(VideoWriterTest, AbandonedWriterLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.File("out.mp4");
  ASSERT_NE(WriterWithOneFrame(path), nullptr);  // destroyed unfinished
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

TEST(VideoWriterTest, FinishWithoutFramesFailsAndLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.File("out.mp4");
  auto w = VideoWriter::Open(path, 32, 32, 25, EncodeOptions());
  ASSERT_TRUE(w.ok()) << w.status();
  const absl::Status s = (*w)->Finish();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("no frames"));
  w->reset();
  EXPECT_THAT(probe::UnfinishedFiles(dir.path()), ::testing::IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(VideoWriterTest, RejectsOddSizeBadRateAndBadCrf) {
  TempDir dir;
  const std::string path = dir.File("out.mp4");
  auto odd = VideoWriter::Open(path, 63, 48, 25, EncodeOptions());
  EXPECT_EQ(odd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(odd.status().message()), HasSubstr("63x48"));
  EXPECT_EQ(VideoWriter::Open(path, 64, 48, 0, EncodeOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EncodeOptions bad_crf;
  bad_crf.crf = 52;
  EXPECT_EQ(VideoWriter::Open(path, 64, 48, 25, bad_crf).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(probe::UnfinishedFiles(dir.path()), ::testing::IsEmpty());
}

TEST(VideoWriterTest, MissingFolderIsAnErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.File("no/such/folder/out.mp4");
  auto w = VideoWriter::Open(path, 32, 32, 25, EncodeOptions());
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("no/such/folder/out.mp4"));
}

TEST(VideoWriterTest, ColoursSurviveTheRoundTrip) {
  // Solid colours, losslessly coded (crf 0): what ffmpeg decodes back to RGB
  // differs from what was written only by the 8-bit BT.601 YUV rounding.
  TempDir dir;
  const std::string path = dir.File("solid.mp4");
  EncodeOptions options;
  options.crf = 0;
  const uint8_t colours[3][3] = {{200, 30, 60}, {20, 220, 90}, {128, 128, 128}};
  auto w = VideoWriter::Open(path, 16, 16, 25, options);
  ASSERT_TRUE(w.ok()) << w.status();
  for (const auto& c : colours) {
    std::vector<uint8_t> rgb;
    for (int i = 0; i < 16 * 16; ++i) rgb.insert(rgb.end(), {c[0], c[1], c[2]});
    ASSERT_TRUE((*w)->WriteRgb(rgb.data(), 16 * 3).ok());
  }
  ASSERT_TRUE((*w)->Finish().ok());

  std::string out;
  const std::string raw = dir.File("decoded.rgb");
  ASSERT_EQ(probe::Shell("ffmpeg -v error -i " + path + " -f rawvideo -pix_fmt rgb24 " + raw, &out),
            0)
      << out;
  const std::string bytes = probe::ReadFile(raw);
  ASSERT_EQ(bytes.size(), 3u * 16 * 16 * 3);
  for (int f = 0; f < 3; ++f) {
    for (int ch = 0; ch < 3; ++ch) {
      // The centre pixel of frame f.
      const int v = static_cast<uint8_t>(bytes[f * 16 * 16 * 3 + (8 * 16 + 8) * 3 + ch]);
      EXPECT_NEAR(v, colours[f][ch], 3) << "frame " << f << " channel " << ch;
    }
  }
}

TEST(VideoWriterTest, FaststartPutsTheIndexBeforeTheData) {
  TempDir dir;
  const std::string fast = dir.File("fast.mp4");
  const std::string slow = dir.File("slow.mp4");
  EncodeOptions options;
  ASSERT_TRUE(WriteVideo(fast, 32, 32, 25, 4, options).ok());
  options.faststart = false;
  ASSERT_TRUE(WriteVideo(slow, 32, 32, 25, 4, options).ok());
  const std::string f = probe::ReadFile(fast);
  const std::string s = probe::ReadFile(slow);
  EXPECT_LT(f.find("moov"), f.find("mdat"));
  EXPECT_GT(s.find("moov"), s.find("mdat"));
}

TEST(VideoWriterTest, WriteFrameScalesAnyDecodedFrame) {
  // A 128x96 gray frame of value 180 (full-range gray) written into a 64x48
  // video: the size is the writer's, and the brightness survives.
  TempDir dir;
  const std::string path = dir.File("scaled.mp4");
  ffmpeg::UniqueFrame frame(av_frame_alloc());
  frame->format = AV_PIX_FMT_GRAY8;
  frame->width = 128;
  frame->height = 96;
  ASSERT_GE(av_frame_get_buffer(frame.get(), 0), 0);
  for (int y = 0; y < 96; ++y) std::fill_n(frame->data[0] + y * frame->linesize[0], 128, 180);
  auto w = VideoWriter::Open(path, 64, 48, 25, EncodeOptions());
  ASSERT_TRUE(w.ok()) << w.status();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*w)->WriteFrame(frame.get()).ok());
  ASSERT_TRUE((*w)->Finish().ok());

  const auto s = ProbeVideoStream(path);
  EXPECT_EQ(s.at("width"), "64");
  EXPECT_EQ(s.at("height"), "48");
  EXPECT_EQ(s.at("nb_read_packets"), "3");
  for (double mean : FrameMeans(probe::DecodeGray(path, dir.path()))) {
    EXPECT_NEAR(mean, 180, 3);
  }
}

}  // namespace
}  // namespace vmae::synthetic
