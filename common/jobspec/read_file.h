// Reading a YAML spec file with bounded size and errors that name the path.
#ifndef VMAE_COMMON_JOBSPEC_READ_FILE_H_
#define VMAE_COMMON_JOBSPEC_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::jobspec::internal {

// Spec files are a few KiB; refusing big ones keeps a wrong path (a video,
// a checkpoint) from being read into memory and parsed.
inline constexpr long kMaxSpecFileBytes = 1 << 20;

// The text of `path`. `what` names the file in errors ("job file").
// NOT_FOUND for a missing file, PERMISSION_DENIED for an unreadable one,
// INVALID_ARGUMENT for a directory or a file over kMaxSpecFileBytes.
absl::StatusOr<std::string> ReadSpecFile(const std::string& path, absl::string_view what);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_READ_FILE_H_
