#include "worker/eval/prediction_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace vmae::eval {
namespace {

absl::Status FileError(int error_number, absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(error_number, absl::StrCat("writing predictions: ", what, " ", path));
}

// write(2) may write less than asked, or be interrupted by a signal.
absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return FileError(errno, "write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> PredictionJsonLine(const VideoPrediction& prediction) {
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["video_id"] = prediction.video_id;
  line["label"] = prediction.label;
  line["num_views"] = prediction.num_views;
  nlohmann::ordered_json top = nlohmann::ordered_json::array();
  for (const ClassProbability& entry : prediction.top) {
    nlohmann::ordered_json item = nlohmann::ordered_json::object();
    item["class"] = entry.class_index;
    item["prob"] = entry.probability;
    top.push_back(std::move(item));
  }
  line["top_k"] = std::move(top);
  // dump() throws type_error 316 on a string that is not UTF-8; a file name
  // in another encoding is bad input, not a bug.
  try {
    return line.dump();
  } catch (const nlohmann::json::type_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("predictions: video id is not valid UTF-8: ", e.what()));
  }
}

absl::Status WritePredictions(const std::string& path,
                              const std::vector<VideoPrediction>& predictions) {
  std::string contents;
  for (const VideoPrediction& prediction : predictions) {
    VMAE_ASSIGN_OR_RETURN(const std::string line, PredictionJsonLine(prediction));
    absl::StrAppend(&contents, line, "\n");
  }
  // mkstemp gives a name no other writer (another rank, an earlier crashed
  // run) can be using, in the same directory, so rename() stays atomic.
  std::string tmp_path = path + ".tmp.XXXXXX";
  int fd = mkstemp(tmp_path.data());
  if (fd < 0) {
    return FileError(errno, "creating a temporary file for", path);
  }
  bool renamed = false;
  absl::Cleanup cleanup = [&fd, &renamed, &tmp_path] {
    if (fd >= 0) {
      close(fd);
    }
    if (!renamed) {
      unlink(tmp_path.c_str());
    }
  };
  // mkstemp creates the file 0600; an output file is readable like any other.
  if (fchmod(fd, 0644) != 0) {
    return FileError(errno, "chmod", tmp_path);
  }
  VMAE_RETURN_IF_ERROR(WriteAll(fd, contents, tmp_path));
  if (fsync(fd) != 0) {
    return FileError(errno, "fsync", tmp_path);
  }
  // close() can report a deferred write error (e.g. on NFS): check it.
  const int close_result = close(fd);
  fd = -1;
  if (close_result != 0) {
    return FileError(errno, "close", tmp_path);
  }
  if (rename(tmp_path.c_str(), path.c_str()) != 0) {
    return FileError(errno, "rename to", path);
  }
  renamed = true;
  // The rename lives in the directory: sync it too, or a crash may bring
  // back the old file.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) {
    dir = ".";
  }
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return FileError(errno, "opening the directory of", path);
  }
  const int sync_result = fsync(dir_fd);
  const int sync_errno = errno;
  close(dir_fd);
  if (sync_result != 0) {
    return FileError(sync_errno, "fsync of the directory of", path);
  }
  return absl::OkStatus();
}

}  // namespace vmae::eval
