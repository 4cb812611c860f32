// Crop + resize + YUV->RGB24 of one decoded frame in one swscale call,
// written straight into the caller's buffer. Private to worker/data/video/.
//
// Crops are in displayed coordinates. For rotated streams in 8-bit planar
// formats whose rotation keeps the pixel format (4:2:0, 4:4:4; any for 180)
// the frame's planes are rotated once per kept frame into a scratch frame,
// exactly as ffmpeg's autorotation (transpose) does, and cropped there: the
// result then matches ffmpeg's autorotate-crop-scale to the bit, including
// the chroma at odd crop edges. That costs one pass over the frame (about
// 0.1 ms at 320p), small next to decoding it. Other formats map the
// rectangle to coded coordinates, scale it into a scratch image of the
// transposed output size and rotate the small RGB result into place (crop
// and resize commute with rotation up to swscale's chroma edge handling).
//
// Odd crop origins on subsampled chroma: the crop is not rounded (that would
// shift the luma by a pixel). The chroma plane pointers are offset by
// floor(x / 2) (floor(y / 2)), which starts the chroma half a luma pixel
// early, and swscale is told so through src_h_chr_pos / src_v_chr_pos
// (chroma sample 0 at luma -0.5 instead of the default centre +0.5), so the
// chroma lands where it belongs. This equals ffmpeg's
// `crop=...:exact=1,scale=...:in_h_chr_pos=-128:in_v_chr_pos=-128`.
// swscale sizes the chroma window from the luma size (ceil(w / 2)), so at an
// odd origin the last half chroma sample at the right/bottom edge is
// extrapolated, as in ffmpeg itself.
//
// Not thread-safe; one per decoder. SwsContexts are cached per (source
// format, crop size, output size, chroma phase, colour space, range).
#ifndef VMAE_WORKER_DATA_VIDEO_FRAME_CONVERTER_H_
#define VMAE_WORKER_DATA_VIDEO_FRAME_CONVERTER_H_

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/video/clip_decoder.h"

namespace vmae::video {

class FrameConverter {
 public:
  // `rotation` is clockwise degrees (0/90/180/270); `crop` must lie within
  // the displayed frame (checked by the caller).
  absl::Status Convert(const AVFrame* frame, int rotation, const CropResize& crop, uint8_t* out,
                       int out_stride);
  // Call before converting a new decoded frame: drops the rotated copy of
  // the previous one.
  void NewFrame() { rotated_valid_ = false; }

 private:
  // Scales the coded-coordinate rectangle into dst (packed RGB24).
  absl::Status Scale(const AVFrame* frame, int x, int y, int w, int h, int out_w, int out_h,
                     uint8_t* dst, int dst_stride);

  // The frame rotated into displayed orientation, or nullptr when its pixel
  // format cannot be rotated plane by plane.
  const AVFrame* Rotated(const AVFrame* frame, int rotation);
  absl::Status ConvertByRgbRotation(const AVFrame* frame, int rotation, const CropResize& crop,
                                    uint8_t* out, int out_stride);

  using Key = std::tuple<int, int, int, int, int, int, int, int, int>;
  std::map<Key, ffmpeg::UniqueSwsContext> contexts_;
  std::vector<uint8_t> scratch_;
  ffmpeg::UniqueFrame rotated_;  // points into rotated_planes_; owns no buffers
  std::vector<uint8_t> rotated_planes_[4];
  bool rotated_valid_ = false;
};

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_FRAME_CONVERTER_H_
