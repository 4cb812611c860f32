#include "worker/data/video/encoded_video.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/data/bad_sample.h"

namespace vmae::video {

using data::BadSampleError;
using data::BadSampleKind;

absl::StatusOr<EncodedVideo> ReadEncodedVideo(const std::string& path, int64_t min_bytes) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      return BadSampleError(BadSampleKind::kMissing,
                            absl::StrCat("video file ", path,
                                         " does not exist; check the data list and the data root"));
    }
    return absl::ErrnoToStatus(
        err, absl::StrCat("cannot open video file ", path, ": ", std::strerror(err),
                          "; check its permissions and the file system"));
  }
  absl::Cleanup close_fd = [fd] { close(fd); };
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    return absl::ErrnoToStatus(
        err, absl::StrCat("cannot stat video file ", path, ": ", std::strerror(err)));
  }
  if (!S_ISREG(st.st_mode)) {
    return BadSampleError(
        BadSampleKind::kMissing,
        absl::StrCat("video path ", path, " is not a regular file; point the data list at files"));
  }
  auto bytes = std::make_shared<std::string>();
  bytes->resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes->size()) {
    ssize_t n = read(fd, bytes->data() + done, bytes->size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      int err = errno;
      return absl::ErrnoToStatus(
          err, absl::StrCat("cannot read video file ", path, ": ", std::strerror(err)));
    }
    if (n == 0) {
      break;  // the file shrank while we read it; keep what is there
    }
    done += static_cast<size_t>(n);
  }
  bytes->resize(done);
  if (static_cast<int64_t>(done) < min_bytes || done == 0) {
    return BadSampleError(
        BadSampleKind::kEmpty,
        absl::StrCat("video file ", path, " has ", done, " bytes, fewer than the minimum ",
                     min_bytes, "; re-encode or remove it from the data list"));
  }
  EncodedVideo video;
  video.name = path;
  video.bytes = std::move(bytes);
  video.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return video;
}

}  // namespace vmae::video
