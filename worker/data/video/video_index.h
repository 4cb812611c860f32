// What a decoder needs to know about a file before decoding a clip from it,
// found once by demuxing (no decoding) and cached: the video stream, its
// frames in presentation order, and which of them are keyframes.
//
// "Frame i" is the i-th frame in presentation order, as decord defines it:
// the packets' presentation timestamps, sorted. That is what the authors'
// sampling indices mean, so our clips hold the frames theirs do.
#ifndef VMAE_WORKER_DATA_VIDEO_VIDEO_INDEX_H_
#define VMAE_WORKER_DATA_VIDEO_VIDEO_INDEX_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/video/encoded_video.h"

namespace vmae::video {

struct StreamInfo {
  std::string codec;    // FFmpeg's codec name: "h264", "mpeg4", "vp9", "av1"
  int coded_width = 0;  // as decoded
  int coded_height = 0;
  int rotation = 0;  // clockwise degrees to display: 0, 90, 180 or 270
  int width = 0;     // as displayed (after rotation)
  int height = 0;
  double average_fps = 0;  // frame_count / duration when the header has none
  double duration_seconds = 0;
};

struct VideoIndex {
  StreamInfo info;
  int stream_index = -1;
  int time_base_num = 0;
  int time_base_den = 1;
  // One entry per frame, in presentation order (sorted ascending).
  std::vector<int64_t> frame_pts;
  // Frame numbers (positions in frame_pts) of keyframes, ascending.
  std::vector<int64_t> keyframes;

  int64_t frame_count() const { return static_cast<int64_t>(frame_pts.size()); }

  // A compact binary form for the on-disk cache; Parse rejects anything that
  // Serialize did not write (magic, version, lengths, sortedness).
  std::string Serialize() const;
  static absl::StatusOr<VideoIndex> Parse(std::string_view bytes);
};

// Demuxes `video` once, reading packet headers only. Bad files give
// bad-sample errors: kNotVideo (no format recognises it), kAudioOnly (no
// video stream), kTruncated (container index or data cut short), kNoFrames.
absl::StatusOr<VideoIndex> BuildVideoIndex(const EncodedVideo& video);

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_VIDEO_INDEX_H_
