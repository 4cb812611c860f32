// Re-encodes a video for fast loading: smaller frames and frequent
// keyframes, so that a clip costs a short decode from the keyframe before it.
//
// Every decoded frame is written once, in decode output (presentation)
// order: the frame count never changes, because clip sampling indexes frames
// by number. Timestamps become the frame numbers at the input's average frame
// rate (a variable-rate input comes out constant-rate, same frames).
//
// Rotation: pictures stay as stored (unrotated); the input's display matrix
// is copied to the output stream, so players and readers that honour it
// rotate the output exactly as they rotated the input.
#ifndef VMAE_WORKER_DATA_SYNTHETIC_REENCODE_H_
#define VMAE_WORKER_DATA_SYNTHETIC_REENCODE_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace vmae::synthetic {

struct ReencodeOptions {
  // Target length of the shorter side in pixels (even), the longer side
  // keeping the aspect ratio, rounded to even; 0 keeps the size (trimmed to
  // even). Default: 320, the authors' short side for Kinetics/SSv2.
  int short_side = 320;
  // Keyframe interval in frames. Default: 16, one 16-frame clip.
  int gop = 16;
  // x264 constant rate factor, 0 to 51. Default: 23.
  int crf = 23;
};

struct ReencodeResult {
  int64_t frames = 0;
  int width = 0;
  int height = 0;
};

// The output size for an input of width x height (see short_side).
std::pair<int, int> ScaledSize(int width, int height, int short_side);

// Decodes all of `in_path` and writes `out_path` (H.264 MP4, atomically: see
// VideoWriter), creating its folder. NOT_FOUND when the input is missing;
// DATA_LOSS when it does not decode; INVALID_ARGUMENT for bad options.
absl::StatusOr<ReencodeResult> ReencodeVideo(const std::string& in_path,
                                             const std::string& out_path,
                                             const ReencodeOptions& options);

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_REENCODE_H_
