// Writes an H.264 (libx264, yuv420p) MP4 file frame by frame.
//
// The file appears only when Finish() succeeds: frames go to "<path>.partial",
// which Finish() renames to `path` and the destructor removes otherwise, so a
// reader never sees a half-written video and a killed run leaves at most a
// .partial file that the next run overwrites.
//
// Keyframes (IDR) land exactly every `gop` frames: x264's scene-cut detection
// is off, so a reader can seek to frame n by decoding from n - n % gop.
// Timestamps are the frame numbers at a constant `fps`.
//
// Not thread-safe; use one writer per thread.
#ifndef VMAE_WORKER_DATA_SYNTHETIC_VIDEO_WRITER_H_
#define VMAE_WORKER_DATA_SYNTHETIC_VIDEO_WRITER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"

namespace vmae::synthetic {

struct EncodeOptions {
  // Frames from one keyframe to the next. Default: 250 (x264's default).
  int gop = 250;
  // x264 constant rate factor, 0 (lossless) to 51. Default: 23.
  int crf = 23;
  // x264 preset. Default: "veryfast".
  std::string preset = "veryfast";
  // Moves the index (moov) to the front so a reader needs no second seek.
  // Default: true.
  bool faststart = true;
  // Maximum consecutive B-frames; -1 keeps the preset's. Default: -1.
  int bframes = -1;
  // Encoder threads; 0 lets FFmpeg pick. x264's output depends on its thread
  // count, so the default keeps files identical on every machine; run several
  // writers at once for speed instead. Default: 1.
  int threads = 1;
  // A 3x3 display matrix (9 values, FFmpeg's layout) stored on the stream so
  // players rotate the picture; empty for none. Default: empty.
  std::vector<int32_t> display_matrix;
};

class VideoWriter {
 public:
  // Starts `path` (written as "<path>.partial" until Finish()). `width` and
  // `height` must be even (4:2:0 chroma); `fps` > 0.
  static absl::StatusOr<std::unique_ptr<VideoWriter>> Open(const std::string& path, int width,
                                                           int height, double fps,
                                                           const EncodeOptions& options);
  // Removes the .partial file unless Finish() succeeded.
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  // Appends one width x height RGB24 picture; `stride` bytes per row. The
  // conversion to YUV (BT.601, limited range) is plain integer C++ rather
  // than swscale, whose SIMD paths round differently on different CPUs, so
  // generated data sets are the same bytes everywhere.
  absl::Status WriteRgb(const uint8_t* rgb, int stride);
  // Appends a decoded frame of any size and pixel format, scaled (bilinear)
  // to width x height. Its pts is ignored: frames are numbered in call order.
  absl::Status WriteFrame(const AVFrame* frame);
  // Flushes the encoder, completes the file and renames it to its final path.
  // Fails if no frame was written. The writer is unusable afterwards.
  absl::Status Finish();

  int64_t frames_written() const { return frames_written_; }
  const std::string& path() const { return path_; }

 private:
  VideoWriter(std::string path, int width, int height)
      : path_(std::move(path)), partial_path_(path_ + ".partial"), width_(width), height_(height) {}
  absl::Status Init(double fps, const EncodeOptions& options);
  // Encodes frame_ (or flushes, with nullptr) and muxes what comes out.
  absl::Status Encode(const AVFrame* frame);

  std::string path_;
  std::string partial_path_;
  int width_;
  int height_;
  int64_t frames_written_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  ffmpeg::UniqueOutputFormat format_;
  AVStream* stream_ = nullptr;  // owned by format_
  ffmpeg::UniqueCodecContext codec_;
  ffmpeg::UniqueFrame frame_;
  ffmpeg::UniquePacket packet_;
  ffmpeg::UniqueSwsContext sws_;
};

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_VIDEO_WRITER_H_
