// Crash-safe file replacement: write `path`.tmp, fsync it, rename it over
// `path`, fsync the directory. A reader sees the old file or the new one,
// never a torn one.
#ifndef VMAE_COMMON_CHECKPOINT_ATOMIC_FILE_H_
#define VMAE_COMMON_CHECKPOINT_ATOMIC_FILE_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmae::checkpoint {

// Writes all `length` bytes to `fd` (retrying short writes and EINTR);
// `path` names the file in the error.
absl::Status WriteAll(int fd, const char* data, size_t length, const std::string& path);

// Creates `path` + ".tmp" (mode 0644), lets `write_body` fill it through
// the descriptor, then fsyncs, renames and fsyncs the directory. When
// `write_body` or any step fails, the temporary file is removed, `path` is
// untouched and the error is returned.
absl::Status WriteFileAtomically(
    const std::string& path,
    const std::function<absl::Status(int fd, const std::string& tmp_path)>& write_body);

// Same, with the whole contents at hand.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

}  // namespace vmae::checkpoint

#endif  // VMAE_COMMON_CHECKPOINT_ATOMIC_FILE_H_
