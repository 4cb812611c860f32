// A whole video file held in memory. The loader reads each file once with one
// read(2) and hands the bytes to FFmpeg through a custom AVIOContext, so the
// decoder never touches the file system again and the bytes can be shared
// between the index builder and the decoder.
#ifndef VMAE_WORKER_DATA_VIDEO_ENCODED_VIDEO_H_
#define VMAE_WORKER_DATA_VIDEO_ENCODED_VIDEO_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace vmae::video {

struct EncodedVideo {
  std::string name;  // the path, for messages and the index cache key
  std::shared_ptr<const std::string> bytes;
  int64_t mtime_ns = 0;  // modification time at read, part of the cache key
};

// Reads `path` whole. Errors are bad-sample errors (worker/data/bad_sample.h):
// kMissing when there is no such file, kEmpty when it has fewer than
// `min_bytes` bytes (the authors skip files under 1 KiB: they hang decoders).
absl::StatusOr<EncodedVideo> ReadEncodedVideo(const std::string& path, int64_t min_bytes = 1024);

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_ENCODED_VIDEO_H_
