// vmaectl download ID [CKPT] -o DIR: DownloadCheckpoint into DIR, each file
// verified (size, SHA-256) before anything is renamed into place.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"
#include "client/progress_bar.h"
#include "common/sha256.h"
#include "common/status_macros.h"

namespace vmae::client {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// One file being received into <dir>/<name>.part.
struct PartFile {
  std::string name;
  std::string part_path;
  std::string final_path;
  int64_t expected_size = 0;
  std::string expected_sha256;
  int64_t written = 0;
  std::unique_ptr<Sha256> hasher = std::make_unique<Sha256>();
  std::string sha256;  // set once verified.
  int fd = -1;
};

// Every .part file of one download. Unless Commit() ran, the destructor
// closes and deletes them all, so a failed download leaves nothing behind.
class PartSet {
 public:
  explicit PartSet(std::string dir) : dir_(std::move(dir)) {}
  ~PartSet() {
    if (committed_) {
      return;
    }
    for (PartFile& f : files_) {
      if (f.fd >= 0) {
        ::close(f.fd);
      }
      ::unlink(f.part_path.c_str());
    }
  }
  PartSet(const PartSet&) = delete;
  PartSet& operator=(const PartSet&) = delete;

  absl::Status Begin(const v1::CheckpointFile& header) {
    VMAE_RETURN_IF_ERROR(FinishCurrent());
    const std::string& name = header.name();
    if (name.empty() || name == "." || absl::StrContains(name, "/") ||
        absl::StrContains(name, "\\") || absl::StrContains(name, "..") ||
        name.find('\0') != std::string::npos) {
      return absl::DataLossError(absl::StrCat("the coordinator sent an unsafe file name '",
                                              absl::CEscape(name), "'; refusing to write it"));
    }
    if (!names_.insert(name).second) {
      return absl::DataLossError(absl::StrCat("the coordinator sent file ", name, " twice"));
    }
    if (header.size() < 0) {
      return absl::DataLossError(absl::StrCat("file ", name, " has a negative size"));
    }
    PartFile f;
    f.name = name;
    f.final_path = (std::filesystem::path(dir_) / name).string();
    f.part_path = f.final_path + ".part";
    f.expected_size = header.size();
    f.expected_sha256 = absl::AsciiStrToLower(header.sha256());
    f.fd = ::open(f.part_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) {
      return ErrnoError("cannot create", f.part_path);
    }
    files_.push_back(std::move(f));
    return absl::OkStatus();
  }

  absl::Status Append(const std::string& data) {
    if (files_.empty() || files_.back().fd < 0) {
      return absl::DataLossError("the coordinator sent data before announcing a file");
    }
    PartFile& f = files_.back();
    if (f.written + static_cast<int64_t>(data.size()) > f.expected_size) {
      return absl::DataLossError(absl::StrCat("file ", f.name, " is longer than the ",
                                              f.expected_size, " bytes announced"));
    }
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(f.fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        return ErrnoError("cannot write", f.part_path);
      }
      off += static_cast<size_t>(n);
    }
    f.hasher->Update(data);
    f.written += static_cast<int64_t>(data.size());
    return absl::OkStatus();
  }

  // Verifies, fsyncs and closes the file being received, if any.
  absl::Status FinishCurrent() {
    if (files_.empty() || files_.back().fd < 0) {
      return absl::OkStatus();
    }
    PartFile& f = files_.back();
    if (f.written != f.expected_size) {
      return absl::DataLossError(absl::StrCat("file ", f.name, " is truncated: got ", f.written,
                                              " of ", f.expected_size, " bytes"));
    }
    std::string digest = f.hasher->HexDigest();
    if (f.expected_sha256.empty()) {
      return absl::DataLossError(
          absl::StrCat("the coordinator announced file ", f.name, " without a SHA-256"));
    }
    if (digest != f.expected_sha256) {
      return absl::DataLossError(absl::StrCat("file ", f.name, " failed its SHA-256 check (got ",
                                              digest.substr(0, 12), "..., expected ",
                                              f.expected_sha256.substr(0, 12), "...)"));
    }
    f.sha256 = digest;
    if (::fsync(f.fd) != 0) {
      return ErrnoError("cannot fsync", f.part_path);
    }
    int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0) {
      return ErrnoError("cannot close", f.part_path);
    }
    return absl::OkStatus();
  }

  const PartFile* current() const { return files_.empty() ? nullptr : &files_.back(); }

  // Renames every verified file into place and syncs the directory.
  absl::StatusOr<std::vector<DownloadedFile>> Commit() {
    VMAE_RETURN_IF_ERROR(FinishCurrent());
    if (files_.empty()) {
      return absl::DataLossError("the coordinator sent no files");
    }
    std::vector<DownloadedFile> done;
    for (PartFile& f : files_) {
      if (::rename(f.part_path.c_str(), f.final_path.c_str()) != 0) {
        return ErrnoError("cannot rename into place", f.part_path);
      }
      done.push_back({f.final_path, f.written, f.sha256});
    }
    committed_ = true;
    int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
    return done;
  }

 private:
  std::string dir_;
  std::vector<PartFile> files_;
  std::set<std::string> names_;
  bool committed_ = false;
};

}  // namespace

absl::StatusOr<std::vector<DownloadedFile>> DownloadToDirectory(
    CoordinatorClient& client, const v1::DownloadCheckpointRequest& request, const std::string& dir,
    const std::function<void(const std::string&, int64_t, int64_t)>& on_progress) {
  std::error_code ec;
  const bool created = std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create the directory ", dir, ": ", ec.message()));
  }
  absl::StatusOr<std::vector<DownloadedFile>> result =
      [&]() -> absl::StatusOr<std::vector<DownloadedFile>> {
    PartSet parts(dir);  // deletes every .part file unless committed.
    VMAE_RETURN_IF_ERROR(
        client.DownloadCheckpoint(request, [&](const v1::DownloadChunk& chunk) -> absl::Status {
          if (chunk.has_file()) {
            VMAE_RETURN_IF_ERROR(parts.Begin(chunk.file()));
          } else {
            VMAE_RETURN_IF_ERROR(parts.Append(chunk.data()));
          }
          if (on_progress) {
            const PartFile* f = parts.current();
            on_progress(f->name, f->written, f->expected_size);
          }
          return absl::OkStatus();
        }));
    return parts.Commit();
  }();
  if (!result.ok() && created) {
    std::filesystem::remove(dir, ec);  // only if empty; best effort.
  }
  return result;
}

int RunDownload(Context& ctx) {
  const std::string& id = ctx.cmd().args[0];
  const std::string dir = ctx.global().output_path;
  if (dir.empty()) {
    return ctx.Fail(absl::InvalidArgumentError(
        "download needs -o DIR, the directory to write the checkpoint's files to"));
  }
  v1::DownloadCheckpointRequest request;
  request.set_job_id(id);
  request.set_checkpoint(ctx.cmd().args.size() > 1 ? ctx.cmd().args[1] : "latest");
  const std::string format = absl::AsciiStrToLower(ctx.cmd().Get("format", "native"));
  if (format == "native") {
    request.set_format(v1::CHECKPOINT_FORMAT_NATIVE);
  } else if (format == "hf" || format == "huggingface") {
    request.set_format(v1::CHECKPOINT_FORMAT_HUGGINGFACE);
  } else {
    return ctx.Fail(absl::InvalidArgumentError(
        absl::StrCat("--format must be native or hf, got '", ctx.cmd().Get("format"), "'")));
  }

  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  std::optional<ProgressBar> bar;
  if (ctx.err_is_tty()) {
    bar.emplace(ctx.err());
  }
  std::string current;
  RateEstimator rate(absl::Seconds(10));
  absl::StatusOr<std::vector<DownloadedFile>> files = DownloadToDirectory(
      **client, request, dir, [&](const std::string& name, int64_t done, int64_t total) {
        if (!bar.has_value()) {
          return;
        }
        const absl::Time now = absl::Now();
        if (name != current) {
          current = name;
          rate = RateEstimator(absl::Seconds(10));
          bar->Finish();
        }
        rate.Add(now, done);
        TransferProgress p;
        p.name = name;
        p.done_bytes = done;
        p.total_bytes = total;
        p.bytes_per_second = rate.PerSecond();
        p.eta = rate.Eta(total);
        bar->Update(FormatTransferProgress(p), now, /*force=*/done == total);
      });
  if (bar.has_value()) {
    bar->Finish();
  }
  if (!files.ok()) {
    absl::Status status = files.status();
    if (status.code() == absl::StatusCode::kDataLoss) {
      return ctx.Fail(absl::DataLossError(absl::StrCat(
          "download of ", request.checkpoint(), " of job ", id, " failed: ", status.message(),
          "; nothing was kept in ", dir, "; run the download again")));
    }
    if (status.code() == absl::StatusCode::kInternal) {
      return ctx.Fail(
          absl::InternalError(absl::StrCat(status.message(), "; nothing was kept in ", dir)));
    }
    return ctx.Fail(ctx.Explain(status, id));
  }
  for (const DownloadedFile& f : *files) {
    ctx.out() << "wrote " << f.path << " (" << FormatBytes(f.size) << ", sha256 "
              << f.sha256.substr(0, 12) << ")\n";
  }
  return kExitOk;
}

}  // namespace vmae::client
