#include "common/jobspec/read_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vmae::jobspec::internal {

absl::StatusOr<std::string> ReadSpecFile(const std::string& path, absl::string_view what) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    const int error = errno;
    const std::string message =
        absl::StrCat("cannot read ", what, " '", path, "': ", std::strerror(error));
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(message);
    }
    if (error == EACCES) {
      return absl::PermissionDeniedError(message);
    }
    return absl::InvalidArgumentError(message);
  }
  if (S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " '", path, "': it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message =
        absl::StrCat("cannot read ", what, " '", path, "': ", std::strerror(error));
    return error == EACCES ? absl::PermissionDeniedError(message)
                           : absl::InvalidArgumentError(message);
  }
  std::string text(static_cast<size_t>(kMaxSpecFileBytes) + 1, '\0');
  in.read(text.data(), kMaxSpecFileBytes + 1);
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", what, " '", path, "': read error"));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<long>(text.size()) > kMaxSpecFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' is larger than ",
                                                   kMaxSpecFileBytes, " bytes; expected a ",
                                                   what));
  }
  return text;
}

}  // namespace vmae::jobspec::internal
