#include "server/checkpoints/checkpoint_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/sha256.h"

namespace vmae::server {
namespace fs = std::filesystem;

namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// fsync a file or folder by path, so a rename that follows is durable.
absl::Status SyncPath(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open for fsync", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync failed for", path);
  return absl::OkStatus();
}

}  // namespace

bool IsSafeFileName(absl::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CheckpointFiles::Init() {
  std::error_code ec;
  fs::create_directories(fs::path(root_) / "uploads", ec);
  if (!ec) fs::create_directories(fs::path(root_) / "checkpoints", ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create checkpoint folders under ", root_, ": ", ec.message()));
  }
  return absl::OkStatus();
}

std::string CheckpointFiles::UploadDir(const std::string& upload_id) const {
  return (fs::path(root_) / "uploads" / upload_id).string();
}

std::string CheckpointFiles::CheckpointDir(const std::string& job_id,
                                           const std::string& checkpoint_id) const {
  return (fs::path(root_) / "checkpoints" / job_id / checkpoint_id).string();
}

std::string CheckpointFiles::PathOf(const std::string& job_id, const std::string& checkpoint_id,
                                    const std::string& file) const {
  return (fs::path(CheckpointDir(job_id, checkpoint_id)) / file).string();
}

bool CheckpointFiles::Exists(const std::string& job_id, const std::string& checkpoint_id) const {
  std::error_code ec;
  return fs::is_directory(CheckpointDir(job_id, checkpoint_id), ec);
}

int64_t CheckpointFiles::HeldBytes(const std::string& upload_id, const std::string& file) const {
  std::error_code ec;
  auto size = fs::file_size(fs::path(UploadDir(upload_id)) / file, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

absl::Status CheckpointFiles::Append(const std::string& upload_id, const std::string& file,
                                     int64_t offset, absl::string_view data,
                                     int64_t declared_size) {
  if (!IsSafeFileName(upload_id) || !IsSafeFileName(file)) {
    return absl::InvalidArgumentError(absl::StrCat("unsafe upload or file name '", file, "'"));
  }
  int64_t held = HeldBytes(upload_id, file);
  if (offset != held) {
    return absl::FailedPreconditionError(absl::StrCat("upload ", upload_id, " file ", file,
                                                      ": chunk offset ", offset, " but ", held,
                                                      " bytes are held; resume from ", held));
  }
  if (held + static_cast<int64_t>(data.size()) > declared_size) {
    return absl::InvalidArgumentError(absl::StrCat("upload ", upload_id, " file ", file,
                                                   ": more bytes than the declared size ",
                                                   declared_size));
  }
  std::error_code ec;
  fs::create_directories(UploadDir(upload_id), ec);
  std::string path = (fs::path(UploadDir(upload_id)) / file).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return ErrnoError("cannot open", path);
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = ErrnoError("cannot write", path);
      ::close(fd);
      return s;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::Status CheckpointFiles::Commit(const std::string& upload_id, const std::string& job_id,
                                     const std::string& checkpoint_id,
                                     const std::vector<vmae::v1::CheckpointFile>& files) {
  std::string dir = UploadDir(upload_id);
  for (const auto& f : files) {
    std::string path = (fs::path(dir) / f.name()).string();
    int64_t held = HeldBytes(upload_id, f.name());
    if (held != f.size()) {
      return absl::FailedPreconditionError(
          absl::StrCat("file ", f.name(), " has ", held, " of ", f.size(), " bytes"));
    }
    auto digest = Sha256File(path);
    if (!digest.ok()) return digest.status();
    if (*digest != f.sha256()) {
      std::error_code ec;
      fs::remove(path, ec);
      return absl::DataLossError(absl::StrCat("file ", f.name(), " of upload ", upload_id,
                                              ": SHA-256 ", *digest, " does not match the declared ",
                                              f.sha256(), "; the file was discarded, upload it again"));
    }
    absl::Status s = SyncPath(path);
    if (!s.ok()) return s;
  }
  std::error_code ec;
  std::string final_dir = CheckpointDir(job_id, checkpoint_id);
  fs::create_directories(fs::path(final_dir).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", final_dir, ": ", ec.message()));
  fs::remove_all(final_dir, ec);  // a stale copy from an interrupted earlier commit
  fs::rename(dir, final_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot move ", dir, " to ", final_dir, ": ", ec.message()));
  }
  return SyncPath(fs::path(final_dir).parent_path().string());
}

absl::Status CheckpointFiles::Remove(const std::string& job_id, const std::string& checkpoint_id) {
  std::error_code ec;
  fs::remove_all(CheckpointDir(job_id, checkpoint_id), ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot delete checkpoint ", checkpoint_id, ": ",
                                            ec.message()));
  }
  return absl::OkStatus();
}

absl::Status CheckpointFiles::RemoveUpload(const std::string& upload_id) {
  std::error_code ec;
  fs::remove_all(UploadDir(upload_id), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot delete upload ", upload_id));
  return absl::OkStatus();
}

}  // namespace vmae::server
