#include "worker/data/ffmpeg/ffmpeg_handles.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

extern "C" {
#include <libavutil/mem.h>
}

namespace vmae::ffmpeg {
namespace {

TEST(FfmpegHandlesTest, ErrorTextIsFfmpegsOwn) {
  // FFmpeg passes errno codes through strerror; its own codes have fixed text.
  EXPECT_EQ(AvErrorText(AVERROR(ENOENT)), std::strerror(ENOENT));
  EXPECT_EQ(AvErrorText(AVERROR_INVALIDDATA), "Invalid data found when processing input");
}

TEST(FfmpegHandlesTest, ErrorsMapToTheClosestStatusCode) {
  const absl::Status missing = AvError(AVERROR(ENOENT), "opening a.mp4");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.message(), std::string("opening a.mp4: ") + std::strerror(ENOENT));
  EXPECT_EQ(AvError(AVERROR(EACCES), "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AvError(AVERROR(EROFS), "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(AvError(AVERROR_INVALIDDATA, "x").code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(AvError(AVERROR(ENOMEM), "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AvError(AVERROR_EOF, "x").code(), absl::StatusCode::kInternal);
}

TEST(FfmpegHandlesTest, EmptyHandlesAreSafeToDestroy) {
  UniqueInputFormat input;
  UniqueOutputFormat output;
  UniqueCodecContext codec;
  UniqueFrame frame;
  UniquePacket packet;
  UniqueSwsContext sws;
  UniqueAvioContext avio;
  SUCCEED();
}

TEST(FfmpegHandlesTest, OutputFormatClosesItsFileSoBufferedBytesReachTheDisk) {
  vmae::testing::TempDir dir;
  const std::string path = dir.File("out.bin");
  AVFormatContext* raw = nullptr;
  ASSERT_GE(avformat_alloc_output_context2(&raw, nullptr, "mp4", path.c_str()), 0);
  UniqueOutputFormat format(raw);
  ASSERT_GE(avio_open(&format->pb, path.c_str(), AVIO_FLAG_WRITE), 0);
  const std::string bytes(1000, 'x');  // below AVIOContext's buffer size: still buffered
  avio_write(format->pb, reinterpret_cast<const unsigned char*>(bytes.data()),
             static_cast<int>(bytes.size()));
  format.reset();
  EXPECT_EQ(std::filesystem::file_size(path), bytes.size());
}

TEST(FfmpegHandlesTest, AvioContextFreesTheBufferItHoldsNow) {
  // The buffer is av_malloc'd by us and may be swapped by FFmpeg; the
  // deleter frees whichever the context holds (a leak would show under
  // ASan/valgrind, a double free would crash here).
  constexpr int kSize = 4096;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kSize));
  ASSERT_NE(buffer, nullptr);
  UniqueAvioContext avio(
      avio_alloc_context(buffer, kSize, /*write_flag=*/0, nullptr, nullptr, nullptr, nullptr));
  ASSERT_NE(avio, nullptr);
  EXPECT_EQ(avio->buffer, buffer);
}

}  // namespace
}  // namespace vmae::ffmpeg
