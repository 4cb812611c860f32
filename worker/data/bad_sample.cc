#include "worker/data/bad_sample.h"

#include <string>

#include "absl/strings/cord.h"

namespace vmae::data {
namespace {

constexpr std::string_view kPayloadUrl = "type.vmae.dev/vmae.data.BadSampleKind";

absl::StatusCode CodeFor(BadSampleKind kind) {
  switch (kind) {
    case BadSampleKind::kMissing:
      return absl::StatusCode::kNotFound;
    case BadSampleKind::kTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kDataLoss;
  }
}

}  // namespace

std::string_view BadSampleKindName(BadSampleKind kind) {
  switch (kind) {
    case BadSampleKind::kMissing:
      return "missing";
    case BadSampleKind::kEmpty:
      return "empty";
    case BadSampleKind::kNotVideo:
      return "not_video";
    case BadSampleKind::kAudioOnly:
      return "audio_only";
    case BadSampleKind::kTruncated:
      return "truncated";
    case BadSampleKind::kDecodeError:
      return "decode_error";
    case BadSampleKind::kNoFrames:
      return "no_frames";
    case BadSampleKind::kTimeout:
      return "timeout";
  }
  return "unknown";
}

absl::Status BadSampleError(BadSampleKind kind, std::string_view message) {
  // Debian's Abseil has its own string_view type, hence the std::string copies.
  absl::Status status(CodeFor(kind), std::string(message));
  status.SetPayload(std::string(kPayloadUrl), absl::Cord(std::string(BadSampleKindName(kind))));
  return status;
}

std::optional<BadSampleKind> BadSampleKindOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(std::string(kPayloadUrl));
  if (!payload.has_value()) {
    return std::nullopt;
  }
  const std::string name(*payload);
  for (BadSampleKind kind : kAllBadSampleKinds) {
    if (BadSampleKindName(kind) == name) {
      return kind;
    }
  }
  return std::nullopt;
}

}  // namespace vmae::data
