#include "worker/agent/checkpoint_transfer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/sha256.h"

namespace vmae::worker {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kChunk = 1 << 20;

bool Transient(absl::StatusCode c) {
  return c == absl::StatusCode::kUnavailable || c == absl::StatusCode::kDeadlineExceeded ||
         c == absl::StatusCode::kAborted || c == absl::StatusCode::kInternal ||
         c == absl::StatusCode::kResourceExhausted || c == absl::StatusCode::kUnknown ||
         c == absl::StatusCode::kCancelled;
}

bool SafeName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos &&
         n.find('\0') == std::string::npos;
}

// One pass: Begin, then send what the coordinator lacks.
absl::StatusOr<vmae::v1::UploadState> UploadOnce(
    CoordinatorLink* link, const UploadRequest& req,
    const std::vector<vmae::v1::CheckpointFile>& files, const std::function<bool()>& keep_going) {
  vmae::v1::BeginCheckpointUploadRequest begin;
  begin.set_job_id(req.job_id);
  begin.set_attempt(req.attempt);
  begin.set_step(req.step);
  begin.set_samples_seen(req.samples_seen);
  begin.set_val_top1(req.val_top1);
  for (const auto& f : files) *begin.add_files() = f;
  vmae::v1::UploadState state;
  {
    grpc::ClientContext ctx;
    link->Prepare(&ctx, absl::Seconds(30));
    grpc::Status s = link->stub()->BeginCheckpointUpload(&ctx, begin, &state);
    if (!s.ok()) return FromGrpcStatus(s);
  }
  if (state.committed()) return state;
  std::map<std::string, int64_t> held;
  for (const auto& r : state.received()) held[r.name()] = r.size();
  grpc::ClientContext ctx;
  link->Prepare(&ctx, absl::Minutes(30));
  vmae::v1::UploadState result;
  auto writer = link->stub()->UploadCheckpoint(&ctx, &result);
  bool wrote_any = false;
  absl::Status local = absl::OkStatus();
  for (const auto& f : files) {
    int64_t off = held[f.name()];
    if (off >= f.size()) continue;
    std::ifstream in(req.dir + "/" + f.name(), std::ios::binary);
    if (!in) {
      local = absl::NotFoundError(absl::StrCat(req.dir, "/", f.name(), " disappeared"));
      break;
    }
    in.seekg(off);
    std::string buf;
    while (off < f.size()) {
      if (!keep_going()) {
        local = absl::CancelledError("upload abandoned");
        break;
      }
      int64_t n = std::min(kChunk, f.size() - off);
      buf.resize(static_cast<size_t>(n));
      in.read(buf.data(), n);
      if (in.gcount() != n) {
        local = absl::NotFoundError(absl::StrCat(req.dir, "/", f.name(), " shrank while uploading"));
        break;
      }
      vmae::v1::UploadChunk c;
      c.set_upload_id(state.upload_id());
      c.set_file(f.name());
      c.set_offset(off);
      c.set_data(buf);
      if (!writer->Write(c)) break;  // the status comes from Finish
      wrote_any = true;
      off += n;
    }
    if (!local.ok()) break;
  }
  if (!local.ok()) {
    ctx.TryCancel();
    writer->Finish();
    return local;
  }
  if (!wrote_any && !files.empty()) {
    // Every byte is already held (an earlier pass broke before its Finish),
    // or the files are empty: an empty chunk at the held offset is accepted
    // and lets the coordinator verify and commit.
    const auto& f = files.front();
    vmae::v1::UploadChunk c;
    c.set_upload_id(state.upload_id());
    c.set_file(f.name());
    c.set_offset(std::min(held[f.name()], f.size()));
    writer->Write(c);
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return FromGrpcStatus(s);
  return result;
}

}  // namespace

absl::StatusOr<std::vector<vmae::v1::CheckpointFile>> DescribeCheckpointDir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("checkpoint directory ", dir, " does not exist"));
  }
  std::vector<vmae::v1::CheckpointFile> files;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    vmae::v1::CheckpointFile f;
    f.set_name(it->path().filename().string());
    f.set_size(static_cast<int64_t>(it->file_size(ec)));
    auto digest = Sha256File(it->path().string());
    if (!digest.ok()) return absl::NotFoundError(absl::StrCat("cannot read ", it->path().string()));
    f.set_sha256(*digest);
    files.push_back(std::move(f));
  }
  if (ec) return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  if (files.empty()) return absl::NotFoundError(absl::StrCat("checkpoint directory ", dir, " is empty"));
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
  return files;
}

absl::StatusOr<vmae::v1::UploadState> UploadCheckpointDir(CoordinatorLink* link,
                                                          const UploadRequest& req,
                                                          const std::function<bool()>& keep_going) {
  auto files = DescribeCheckpointDir(req.dir);
  if (!files.ok()) return files.status();
  absl::Duration backoff = absl::Seconds(1);
  int refusals = 0;
  while (true) {
    if (!keep_going()) return absl::CancelledError("upload abandoned");
    auto state = UploadOnce(link, req, *files, keep_going);
    if (state.ok() && state->committed()) return state;
    absl::Status why = state.ok() ? absl::UnavailableError("not every byte arrived") : state.status();
    if (why.code() == absl::StatusCode::kNotFound && !fs::exists(req.dir)) return why;
    if (!Transient(why.code())) {
      // NOT_FOUND "upload not begun" can follow a coordinator restart that
      // lost the half-done upload: Begin again a few times, then give up.
      if (++refusals >= 3) return why;
    }
    LogLine(LogLevel::kWarning, LogContext{req.job_id, -1, req.attempt},
            absl::StrCat("upload of step ", req.step, " from ", req.dir, ": ", why.message(),
                         "; retrying in ", absl::ToInt64Seconds(backoff), " s"));
    absl::Time until = absl::Now() + backoff;
    while (absl::Now() < until) {
      if (!keep_going()) return absl::CancelledError("upload abandoned");
      absl::SleepFor(absl::Milliseconds(100));
    }
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
}

absl::StatusOr<std::string> FetchCheckpointTo(CoordinatorLink* link, const std::string& id,
                                              const std::string& job_id, const std::string& root) {
  if (!SafeName(id)) return absl::InvalidArgumentError(absl::StrCat("bad checkpoint id '", id, "'"));
  const std::string final_dir = root + "/" + id;
  std::error_code ec;
  if (fs::is_directory(final_dir, ec)) return final_dir;  // created complete, by rename
  const std::string tmp = final_dir + ".partial";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create ", tmp, ": ", ec.message(), "; check --work-dir"));
  }
  vmae::v1::FetchCheckpointRequest req;
  req.set_checkpoint(id);
  req.set_job_id(job_id);
  grpc::ClientContext ctx;
  link->Prepare(&ctx, absl::Minutes(30));
  auto reader = link->stub()->FetchCheckpoint(&ctx, req);
  vmae::v1::DownloadChunk chunk;
  std::unique_ptr<std::ofstream> out;
  vmae::v1::CheckpointFile current;
  int64_t got = 0;
  Sha256 hash;
  absl::Status bad = absl::OkStatus();
  auto finish_file = [&]() {
    if (!out) return;
    out->close();
    out.reset();
    std::string digest = hash.HexDigest();
    if (got != current.size()) {
      bad = absl::DataLossError(absl::StrCat("checkpoint ", id, " file ", current.name(), ": got ",
                                             got, " bytes, expected ", current.size()));
    } else if (!current.sha256().empty() && digest != current.sha256()) {
      bad = absl::DataLossError(
          absl::StrCat("checkpoint ", id, " file ", current.name(), ": SHA-256 mismatch"));
    }
  };
  while (bad.ok() && reader->Read(&chunk)) {
    if (chunk.has_file()) {
      finish_file();
      if (!bad.ok()) break;
      current = chunk.file();
      if (!SafeName(current.name())) {
        bad = absl::DataLossError(absl::StrCat("unsafe file name '", current.name(), "'"));
        break;
      }
      out = std::make_unique<std::ofstream>(tmp + "/" + current.name(),
                                            std::ios::binary | std::ios::trunc);
      got = 0;
    } else if (out) {
      out->write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
      hash.Update(chunk.data());
      got += static_cast<int64_t>(chunk.data().size());
    }
  }
  if (bad.ok()) finish_file();
  if (!bad.ok()) ctx.TryCancel();
  grpc::Status s = reader->Finish();
  if (bad.ok() && !s.ok()) bad = FromGrpcStatus(s);
  if (!bad.ok()) {
    fs::remove_all(tmp, ec);
    return absl::Status(bad.code(), absl::StrCat("fetching checkpoint ", id, ": ", bad.message()));
  }
  fs::rename(tmp, final_dir, ec);
  if (ec && !fs::is_directory(final_dir)) {
    return absl::InternalError(absl::StrCat("cannot move ", tmp, " to ", final_dir, ": ", ec.message()));
  }
  fs::remove_all(tmp, ec);
  return final_dir;
}

}  // namespace vmae::worker
