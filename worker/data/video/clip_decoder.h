// Decodes the frames of one clip, converting each kept frame exactly once.
//
// The cost of a training clip is the frames decoded and thrown away, so:
// targets are sorted and each frame decoded once; the decoder never seeks
// backwards; it seeks to the keyframe before the next wanted frame only when
// that keyframe lies ahead of the current position (otherwise it decodes
// forward); packets whose frames are not kept are sent with
// skip_frame = AVDISCARD_NONREF, so non-reference frames among them are not
// decoded at all; kept frames are matched by timestamp, not by count.
//
// Each kept frame goes through one swscale call per wanted crop that crops,
// resizes (explicit bilinear, like the authors' PIL resize) and converts
// YUV to RGB straight into the caller's buffer. Rotation metadata is honoured:
// crops are given in displayed coordinates.
#ifndef VMAE_WORKER_DATA_VIDEO_CLIP_DECODER_H_
#define VMAE_WORKER_DATA_VIDEO_CLIP_DECODER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/video_index.h"

namespace vmae::video {

// A rectangle of the displayed frame, scaled to out_width x out_height.
struct CropResize {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
  int out_width = 0;
  int out_height = 0;
};

// One output image: frame `frame` (presentation order) cropped by
// crops[crop], written as packed RGB24, rows `out_stride` bytes apart.
struct FrameTarget {
  int64_t frame = 0;
  int crop = 0;
  uint8_t* out = nullptr;
  int out_stride = 0;  // bytes per output row; 0 means out_width * 3
};

struct DecodeOptions {
  bool skip_nonref = true;  // AVDISCARD_NONREF on packets whose frames are not kept
  absl::Time deadline = absl::InfiniteFuture();  // kTimeout once passed
};

struct DecodeStats {
  int64_t packets_sent = 0;
  int64_t frames_decoded = 0;  // frames the codec returned (kept or not)
  int64_t frames_kept = 0;     // distinct frames converted
  int64_t seeks = 0;
};

// A frame as the codec returned it, before any conversion; for tests that
// compare with a full decode by the ffmpeg command line.
struct RawFrame {
  int64_t frame = 0;
  int64_t pts = 0;
  int width = 0;
  int height = 0;
  int format = 0;                            // AVPixelFormat
  std::vector<std::vector<uint8_t>> planes;  // tightly packed rows per plane
};

class ClipDecoder {
 public:
  // Opens `video` for decoding with one codec thread (clips are decoded in
  // parallel, one per loader thread). `index` must have been built from the
  // same bytes.
  static absl::StatusOr<std::unique_ptr<ClipDecoder>> Open(EncodedVideo video,
                                                           std::shared_ptr<const VideoIndex> index);
  ~ClipDecoder();
  ClipDecoder(const ClipDecoder&) = delete;
  ClipDecoder& operator=(const ClipDecoder&) = delete;

  const VideoIndex& index() const;

  // Fills every target. Frame numbers must be in [0, frame_count); targets
  // may come in any order and repeat frames. Errors: kDecodeError when the
  // stream does not decode or a wanted frame never appears, kTimeout.
  absl::Status Decode(absl::Span<const FrameTarget> targets, absl::Span<const CropResize> crops,
                      const DecodeOptions& options, DecodeStats* stats = nullptr);

  // The wanted frames in the codec's own pixel format, ascending by frame.
  absl::StatusOr<std::vector<RawFrame>> DecodeRaw(absl::Span<const int64_t> frames,
                                                  const DecodeOptions& options,
                                                  DecodeStats* stats = nullptr);

 private:
  struct State;
  explicit ClipDecoder(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_CLIP_DECODER_H_
