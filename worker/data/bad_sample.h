// Why a sample could not become a clip. Every reader in worker/data/ reports
// a failure as an absl::Status that carries one of these kinds, so the loader
// can count it (vmae_data_errors_total{kind}), log the file, skip the sample,
// and never confuse a bad video with a bug in our own code.
#ifndef VMAE_WORKER_DATA_BAD_SAMPLE_H_
#define VMAE_WORKER_DATA_BAD_SAMPLE_H_

#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace vmae::data {

enum class BadSampleKind {
  kMissing,      // no file at the path
  kEmpty,        // zero bytes, or too small to hold a video (< 1 KiB)
  kNotVideo,     // no container format recognises it
  kAudioOnly,    // a container with no video stream
  kTruncated,    // cut short: index (e.g. mp4 moov) or stream data missing
  kDecodeError,  // the video stream does not decode, or a wanted frame never appears
  kNoFrames,     // a video stream with zero frames
  kTimeout,      // the per-clip time limit passed
};

inline constexpr BadSampleKind kAllBadSampleKinds[] = {
    BadSampleKind::kMissing,   BadSampleKind::kEmpty,       BadSampleKind::kNotVideo,
    BadSampleKind::kAudioOnly, BadSampleKind::kTruncated,   BadSampleKind::kDecodeError,
    BadSampleKind::kNoFrames,  BadSampleKind::kTimeout};

// Stable lower-case name, used as the metric label and in log lines:
// "missing", "empty", "not_video", "audio_only", "truncated", "decode_error",
// "no_frames", "timeout".
std::string_view BadSampleKindName(BadSampleKind kind);

// A status for a bad sample: code DATA_LOSS (NOT_FOUND for kMissing,
// DEADLINE_EXCEEDED for kTimeout), the message as given, and the kind
// attached as a payload so that it survives being passed along.
absl::Status BadSampleError(BadSampleKind kind, std::string_view message);

// The kind carried by `status`, or nullopt when it is not a bad-sample error
// (an OK status, or a failure of our own such as a programming error).
std::optional<BadSampleKind> BadSampleKindOf(const absl::Status& status);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_BAD_SAMPLE_H_
