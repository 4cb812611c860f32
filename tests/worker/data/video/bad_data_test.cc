// The bad-data matrix: one test per bad-sample kind, each checking the kind
// and that the message names the file.
#include <random>

#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/video/test_videos.h"
#include "worker/data/bad_sample.h"
#include "worker/data/video/clip_decoder.h"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/video_index.h"

namespace vmae::video {
namespace {

using data::BadSampleKind;
using data::BadSampleKindOf;
using testing::ReadFile;
using testing::RunCommandLine;
using testing::ScratchDir;
using testing::Video;
using testing::WriteFile;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) {
    c = static_cast<char>(rng());
  }
  return s;
}

// Reads and indexes `path` (min_bytes as given); the first error.
absl::Status ReadAndIndex(const std::string& path, int64_t min_bytes = 1024) {
  auto video = ReadEncodedVideo(path, min_bytes);
  if (!video.ok()) {
    return video.status();
  }
  return BuildVideoIndex(*video).status();
}

void ExpectKind(const absl::Status& status, BadSampleKind kind, const std::string& path) {
  ASSERT_FALSE(status.ok()) << path;
  auto got = BadSampleKindOf(status);
  ASSERT_TRUE(got.has_value()) << status;
  EXPECT_EQ(data::BadSampleKindName(*got), data::BadSampleKindName(kind)) << status;
  EXPECT_NE(status.message().find(path), std::string::npos)
      << "message must name the file: " << status;
}

TEST(BadDataTest, MissingFile) {
  std::string path = ScratchDir() + "/no-such-video.mp4";
  ExpectKind(ReadEncodedVideo(path).status(), BadSampleKind::kMissing, path);
  EXPECT_EQ(ReadEncodedVideo(path).status().code(), absl::StatusCode::kNotFound);
}

TEST(BadDataTest, EmptyAndTinyFiles) {
  std::string empty = ScratchDir() + "/empty.mp4";
  WriteFile(empty, "");
  ExpectKind(ReadEncodedVideo(empty, 0).status(), BadSampleKind::kEmpty, empty);
  std::string tiny = ScratchDir() + "/tiny.mp4";
  WriteFile(tiny, ReadFile(Video("h264").path).substr(0, 700));
  ExpectKind(ReadEncodedVideo(tiny).status(), BadSampleKind::kEmpty, tiny);
}

TEST(BadDataTest, NotAVideo) {
  std::string random = ScratchDir() + "/random.mp4";
  WriteFile(random, RandomBytes(64 * 1024, 1));
  ExpectKind(ReadAndIndex(random), BadSampleKind::kNotVideo, random);
  std::string text = ScratchDir() + "/notes.txt";
  std::string lines;
  for (int i = 0; i < 200; ++i) {
    lines += "this is a text file, not a video\n";
  }
  WriteFile(text, lines);
  ExpectKind(ReadAndIndex(text), BadSampleKind::kNotVideo, text);
}

TEST(BadDataTest, AudioOnly) {
  std::string path = ScratchDir() + "/sine.m4a";
  std::string log;
  ASSERT_EQ(RunCommandLine({"ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                            "-i", "sine=frequency=440:duration=1", "-c:a", "aac", path},
                           &log),
            0)
      << log;
  ExpectKind(ReadAndIndex(path), BadSampleKind::kAudioOnly, path);
}

TEST(BadDataTest, TruncatedFaststartMp4) {
  // moov first: the header parses, the sample data ends halfway.
  std::string bytes = ReadFile(Video("h264").path);
  std::string path = ScratchDir() + "/half-faststart.mp4";
  WriteFile(path, bytes.substr(0, bytes.size() / 2));
  ExpectKind(ReadAndIndex(path), BadSampleKind::kTruncated, path);
}

TEST(BadDataTest, TruncatedMp4WithMoovAtTheEnd) {
  const auto& v = Video("h264_moov_end");
  ASSERT_FALSE(v.path.empty()) << v.skip_reason;
  std::string bytes = ReadFile(v.path);
  ASSERT_LT(bytes.find("mdat"), bytes.find("moov")) << "the test file must have moov last";
  std::string path = ScratchDir() + "/half-moov-end.mp4";
  WriteFile(path, bytes.substr(0, bytes.size() / 2));
  ExpectKind(ReadAndIndex(path), BadSampleKind::kTruncated, path);
}

TEST(BadDataTest, UndecodableStreamIsADecodeError) {
  // The container is intact; every byte of the mdat payload is garbage.
  std::string bytes = ReadFile(Video("h264").path);
  size_t mdat = bytes.find("mdat");
  ASSERT_NE(mdat, std::string::npos);
  size_t payload = mdat + 4;
  bytes.replace(payload, bytes.size() - payload, RandomBytes(bytes.size() - payload, 2));
  std::string path = ScratchDir() + "/garbage-payload.mp4";
  WriteFile(path, bytes);
  auto video = ReadEncodedVideo(path);
  ASSERT_OK(video);
  auto index = BuildVideoIndex(*video);
  ASSERT_OK(index);  // packets are where the sample table says they are
  auto decoder = ClipDecoder::Open(*video, std::make_shared<const VideoIndex>(*index));
  ASSERT_OK(decoder);
  auto frames = (*decoder)->DecodeRaw(std::vector<int64_t>{5, 40}, DecodeOptions());
  ExpectKind(frames.status(), BadSampleKind::kDecodeError, path);
  EXPECT_NE(frames.status().message().find("frame 5"), std::string::npos) << frames.status();
}

TEST(BadDataTest, ZeroFrames) {
  // With -frames:v 0, ffmpeg's mp4 has no track left (the mov demuxer drops
  // empty tracks) and its Matroska/NUT/MPEG-TS files do not parse, but its
  // AVI keeps a video stream header with no packets: that is our file.
  std::string path = ScratchDir() + "/zero-frames.avi";
  std::string log;
  ASSERT_EQ(
      RunCommandLine({"ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                      "testsrc2=s=160x120:r=25", "-frames:v", "0", "-c:v", "mpeg4", path},
                     &log),
      0)
      << log;
  ExpectKind(ReadAndIndex(path), BadSampleKind::kNoFrames, path);
}

TEST(BadDataTest, DeadlineAlreadyPassedIsATimeout) {
  const std::string& path = Video("h264").path;
  auto video = ReadEncodedVideo(path);
  ASSERT_OK(video);
  auto index = BuildVideoIndex(*video);
  ASSERT_OK(index);
  auto decoder = ClipDecoder::Open(*video, std::make_shared<const VideoIndex>(*index));
  ASSERT_OK(decoder);
  DecodeOptions options;
  options.deadline = absl::Now() - absl::Seconds(1);
  std::vector<uint8_t> out(32 * 32 * 3);
  std::vector<CropResize> crops = {{0, 0, 160, 120, 32, 32}};
  std::vector<FrameTarget> targets = {{10, 0, out.data(), 0}};
  absl::Status status = (*decoder)->Decode(targets, crops, options);
  ExpectKind(status, BadSampleKind::kTimeout, path);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  // The decoder still works once the deadline is sane again.
  EXPECT_OK((*decoder)->Decode(targets, crops, DecodeOptions()));
}

}  // namespace
}  // namespace vmae::video
