// Coordinator: the checkpoint store. Two-phase uploads (visible only once
// every file is complete and its SHA-256 verified), keep_last GC that
// deletes files before rows and is idempotent, job:// references.
#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/checkpoint/hf_export.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "google/protobuf/util/time_util.h"
#include "server/coordinator.h"
#include "server/coordinator_internal.h"

namespace vmae::server {

using google::protobuf::util::TimeUtil;
using vmae::v1::CheckpointInfo;

namespace {

constexpr int64_t kMaxCheckpointFile = int64_t{256} << 30;  // 256 GiB
constexpr int kMaxCheckpointFiles = 16;

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) || absl::ascii_isupper(c)) return false;
  }
  return true;
}

std::string CheckpointId(const std::string& job_id, int64_t step) {
  return absl::StrCat(job_id, "-s", step);
}

}  // namespace

// "job://<id>" or "job://<id>/latest|best|<checkpoint>" -> checkpoint id.
// Anything else is a path the trainer reads itself: *is_job_ref = false.
absl::StatusOr<std::string> Coordinator::ResolveJobRefLocked(const std::string& ref,
                                                             bool* is_job_ref) {
  absl::string_view rest = ref;
  *is_job_ref = absl::ConsumePrefix(&rest, "job://");
  if (!*is_job_ref) return std::string();
  std::vector<std::string> parts = absl::StrSplit(rest, absl::MaxSplits('/', 1));
  std::string job_id = parts[0];
  std::string which = parts.size() > 1 ? parts[1] : "latest";
  if (FindLocked(job_id) == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("'", ref, "': job ", job_id,
                                                   " not found; list jobs with 'vmaectl list'"));
  }
  auto info = ResolveCheckpoint(job_id, which);
  if (!info.ok()) {
    return absl::Status(info.status().code(), absl::StrCat("'", ref, "': ", info.status().message()));
  }
  return info->id();
}

std::vector<CheckpointInfo> Coordinator::DecorateCheckpoints(std::vector<CheckpointRecord> rows) {
  std::vector<CheckpointInfo> out;
  int best = -1;
  for (size_t i = 0; i < rows.size(); ++i) {
    double top1 = rows[i].info.val_top1();
    if (top1 > 0 && (best < 0 || top1 > rows[best].info.val_top1())) best = static_cast<int>(i);
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    CheckpointInfo info = std::move(rows[i].info);
    info.set_best(static_cast<int>(i) == best);
    auto pinned = store_->IsPinned(info.id());
    info.set_pinned(pinned.ok() && *pinned);
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<vmae::v1::ListCheckpointsResponse> Coordinator::ListCheckpoints(
    const Principal& who, const std::string& job_id) {
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_RETURN_IF_ERROR(FindOrNotFound(job_id).status());
  }
  VMAE_ASSIGN_OR_RETURN(auto rows, store_->ListCheckpoints(job_id, false));
  vmae::v1::ListCheckpointsResponse resp;
  for (auto& info : DecorateCheckpoints(std::move(rows))) *resp.add_checkpoints() = std::move(info);
  return resp;
}

absl::StatusOr<CheckpointInfo> Coordinator::ResolveCheckpoint(const std::string& job_id,
                                                              const std::string& which) {
  VMAE_ASSIGN_OR_RETURN(auto rows, store_->ListCheckpoints(job_id, false));
  std::vector<CheckpointInfo> infos = DecorateCheckpoints(std::move(rows));
  if (infos.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has no checkpoint yet; wait for one (vmaectl checkpoints ",
                     job_id, ")"));
  }
  if (which.empty() || which == "latest") return infos.back();
  for (const auto& info : infos) {
    if ((which == "best" && info.best()) || info.id() == which ||
        info.id() == absl::StrCat(job_id, "-", which)) {
      return info;
    }
  }
  if (which == "best") {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, " has no evaluated checkpoint; use 'latest'"));
  }
  return absl::NotFoundError(absl::StrCat("checkpoint '", which, "' of job ", job_id,
                                          " not found; list them with 'vmaectl checkpoints ",
                                          job_id, "'"));
}

namespace {

// The export's architecture comes from the job's resolved spec.
checkpoint::HfConfigInputs HfInputsFromSpec(const vmae::v1::JobSpec& spec) {
  checkpoint::HfConfigInputs cfg;
  const auto& m = spec.model();
  cfg.kind = spec.kind() == vmae::v1::JOB_KIND_FINETUNE ? checkpoint::ModelKind::kFinetune
                                                          : checkpoint::ModelKind::kPretrain;
  cfg.hidden_size = m.embed_dim();
  cfg.depth = m.depth();
  cfg.heads = m.num_heads();
  cfg.mlp_ratio = m.mlp_ratio();
  cfg.patch_size = m.patch_size();
  cfg.tubelet_size = m.tubelet_size();
  cfg.num_frames = m.num_frames();
  cfg.image_size = m.image_size();
  cfg.decoder_hidden_size = m.decoder_embed_dim();
  cfg.decoder_depth = m.decoder_depth();
  cfg.decoder_heads = m.decoder_num_heads();
  cfg.num_classes = m.num_classes();
  cfg.use_mean_pooling = m.use_mean_pooling();
  cfg.normalize_target = spec.pretrain().normalize_target();
  return cfg;
}

}  // namespace

absl::StatusOr<std::vector<Coordinator::FileToSend>> Coordinator::FilesForDownload(
    const CheckpointInfo& info, vmae::v1::CheckpointFormat format) {
  std::vector<FileToSend> out;
  if (format != vmae::v1::CHECKPOINT_FORMAT_HUGGINGFACE) {
    for (const auto& f : info.files()) out.push_back({f, CheckpointFilePath(info, f.name())});
    return out;
  }
  vmae::v1::JobSpec spec;
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(info.job_id()));
    spec = e->job.spec();
  }
  namespace fs = std::filesystem;
  const std::string dir = absl::StrCat(options_.state_dir, "/exports/", info.id(), "-hf");
  const std::vector<std::string> names = {"model.safetensors", "config.json"};
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    const std::string native = CheckpointFilePath(info, "model.safetensors");
    if (!fs::exists(native, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", info.id(), " has no model.safetensors; download it in native format"));
    }
    // Export into a temporary folder, then rename: a crash never leaves a
    // half-written export that a later download would serve.
    const std::string tmp = dir + ".tmp";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    absl::Status s = checkpoint::ExportToHuggingFace(native, HfInputsFromSpec(spec), tmp);
    if (!s.ok()) {
      fs::remove_all(tmp, ec);
      return absl::Status(s.code(), absl::StrCat("Hugging Face export of ", info.id(), ": ",
                                                 s.message()));
    }
    fs::rename(tmp, dir, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot move export into ", dir));
  }
  for (const std::string& name : names) {
    std::string path = absl::StrCat(dir, "/", name);
    VMAE_ASSIGN_OR_RETURN(std::string digest, Sha256File(path));
    FileToSend f;
    f.file.set_name(name);
    f.file.set_size(static_cast<int64_t>(fs::file_size(path, ec)));
    f.file.set_sha256(digest);
    f.path = path;
    out.push_back(std::move(f));
  }
  return out;
}

std::string Coordinator::CheckpointFilePath(const CheckpointInfo& info,
                                            const std::string& file) const {
  return files_.PathOf(info.job_id(), info.id(), file);
}

absl::StatusOr<vmae::v1::UploadState> Coordinator::BeginUpload(
    const vmae::v1::BeginCheckpointUploadRequest& req) {
  if (req.files_size() == 0 || req.files_size() > kMaxCheckpointFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat("a checkpoint has 1 to ", kMaxCheckpointFiles, " files"));
  }
  std::set<std::string> names;
  for (const auto& f : req.files()) {
    if (!IsSafeFileName(f.name())) {
      return absl::InvalidArgumentError(absl::StrCat("unsafe checkpoint file name '", f.name(), "'"));
    }
    if (f.size() < 0 || f.size() > kMaxCheckpointFile) {
      return absl::InvalidArgumentError(absl::StrCat("file ", f.name(), ": size out of range"));
    }
    if (!IsHex64(f.sha256())) {
      return absl::InvalidArgumentError(
          absl::StrCat("file ", f.name(), ": sha256 must be 64 lowercase hex digits"));
    }
    if (!names.insert(f.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat("file ", f.name(), " listed twice"));
    }
  }
  if (req.step() < 0) return absl::InvalidArgumentError("step must be >= 0");
  {
    absl::ReaderMutexLock lock(&mu_);
    VMAE_ASSIGN_OR_RETURN(JobEntry * e, FindOrNotFound(req.job_id()));
    if (req.attempt() < 1 || req.attempt() > e->job.attempt()) {
      return absl::FailedPreconditionError(
          absl::StrCat("attempt ", req.attempt(), " of ", req.job_id(), " never ran"));
    }
  }
  std::string id = CheckpointId(req.job_id(), req.step());
  std::string upload_id = absl::StrCat(id, "-a", req.attempt());
  absl::MutexLock lock(&upload_mu_);
  VMAE_ASSIGN_OR_RETURN(auto existing, store_->GetCheckpoint(id));
  vmae::v1::UploadState state;
  state.set_upload_id(upload_id);
  if (existing.has_value() && existing->committed) {
    // Idempotent: the same checkpoint was already committed.
    state.set_committed(true);
    *state.mutable_checkpoint() = existing->info;
    return state;
  }
  CheckpointRecord rec;
  rec.upload_id = upload_id;
  CheckpointInfo& info = rec.info;
  info.set_id(id);
  info.set_job_id(req.job_id());
  info.set_step(req.step());
  info.set_samples_seen(req.samples_seen());
  info.set_attempt(req.attempt());
  info.set_val_top1(req.val_top1());
  int64_t total = 0;
  for (const auto& f : req.files()) {
    *info.add_files() = f;
    total += f.size();
  }
  info.set_size_bytes(total);
  if (existing.has_value() && existing->upload_id != upload_id) {
    // An earlier attempt began the same step and never finished: start over.
    VMAE_RETURN_IF_ERROR(files_.RemoveUpload(existing->upload_id));
  }
  VMAE_RETURN_IF_ERROR(store_->UpsertCheckpoint(rec));
  for (const auto& f : req.files()) {
    auto* r = state.add_received();
    r->set_name(f.name());
    r->set_size(files_.HeldBytes(upload_id, f.name()));
    r->set_sha256(f.sha256());
  }
  return state;
}

absl::Status Coordinator::UploadChunk(const vmae::v1::UploadChunk& chunk) {
  if (chunk.data().size() > (1u << 20)) {
    return absl::InvalidArgumentError("upload chunks are at most 1 MiB");
  }
  absl::MutexLock lock(&upload_mu_);
  VMAE_ASSIGN_OR_RETURN(auto rec, store_->GetCheckpointByUpload(chunk.upload_id()));
  if (!rec.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("upload ", chunk.upload_id(), " not begun; call BeginCheckpointUpload"));
  }
  if (rec->committed) return absl::OkStatus();
  for (const auto& f : rec->info.files()) {
    if (f.name() == chunk.file()) {
      return files_.Append(chunk.upload_id(), chunk.file(), chunk.offset(), chunk.data(), f.size());
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("file ", chunk.file(), " was not declared in BeginCheckpointUpload"));
}

absl::StatusOr<vmae::v1::UploadState> Coordinator::FinishUpload(const std::string& upload_id) {
  CheckpointRecord rec;
  vmae::v1::UploadState state;
  state.set_upload_id(upload_id);
  {
    absl::MutexLock lock(&upload_mu_);
    VMAE_ASSIGN_OR_RETURN(auto found, store_->GetCheckpointByUpload(upload_id));
    if (!found.has_value()) {
      return absl::NotFoundError(absl::StrCat("upload ", upload_id, " not begun"));
    }
    rec = std::move(*found);
    bool complete = true;
    for (const auto& f : rec.info.files()) {
      int64_t held = rec.committed ? f.size() : files_.HeldBytes(upload_id, f.name());
      auto* r = state.add_received();
      r->set_name(f.name());
      r->set_size(held);
      r->set_sha256(f.sha256());
      complete = complete && held == f.size();
    }
    if (rec.committed) {
      state.set_committed(true);
      *state.mutable_checkpoint() = rec.info;
      return state;
    }
    if (!complete) return state;  // resumable: the agent sends the rest later
    VMAE_RETURN_IF_ERROR(files_.Commit(upload_id, rec.info.job_id(), rec.info.id(),
                                       {rec.info.files().begin(), rec.info.files().end()}));
    *rec.info.mutable_create_time() = TimeUtil::MillisecondsToTimestamp(clock_->WallMillis());
    rec.committed = true;
    VMAE_RETURN_IF_ERROR(store_->UpsertCheckpoint(rec));
  }
  state.set_committed(true);
  *state.mutable_checkpoint() = rec.info;

  int keep_last = 3;
  {
    WriteLock lock(this);
    JobEntry* e = FindLocked(rec.info.job_id());
    if (e != nullptr) {
      keep_last = e->job.spec().checkpoint().keep_last();
      vmae::v1::JobEvent ev = NewEventLocked(*e);
      *ev.mutable_checkpoint() = rec.info;
      PublishBufferedLocked(*e, std::move(ev));
      LogJob(LogLevel::kInfo, e->job.id(),
             absl::StrCat("checkpoint ", rec.info.id(), " committed (step ", rec.info.step(), ", ",
                          rec.info.size_bytes(), " bytes)"));
      if (metrics_) metrics_->OnCheckpoint(e->job.id(), clock_->WallMillis() / 1000.0);
      if (e->job.state() == vmae::v1::JOB_STATE_PAUSING && rec.info.attempt() == e->job.attempt()) {
        e->pause_checkpointed = true;
        FinishPauseLocked(*e, absl::StrCat("checkpoint ", rec.info.id(), " written; workers released"));
      }
    }
  }
  absl::Status gc = GarbageCollect(rec.info.job_id(), keep_last);
  if (!gc.ok()) LogWarning(absl::StrCat("checkpoint GC of ", rec.info.job_id(), ": ", gc.message()));
  return state;
}

absl::StatusOr<CheckpointInfo> Coordinator::CheckpointForFetch(const std::string& id) {
  VMAE_ASSIGN_OR_RETURN(auto rec, store_->GetCheckpoint(id));
  if (!rec.has_value() || !rec->committed || rec->deleting) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", id, " not found"));
  }
  return rec->info;
}

// Keeps the newest keep_last, the best evaluated one and every pinned one.
// Files go first, then rows: a crash in between leaves a row marked
// `deleting` that the next pass (or the next start) finishes.
absl::Status Coordinator::GarbageCollect(const std::string& job_id, int keep_last) {
  if (keep_last < 1) keep_last = 1;
  VMAE_ASSIGN_OR_RETURN(auto rows, store_->ListCheckpoints(job_id, false));
  std::vector<CheckpointInfo> infos = DecorateCheckpoints(rows);
  int n = static_cast<int>(infos.size());
  for (int i = 0; i < n; ++i) {
    const CheckpointInfo& info = infos[i];
    bool keep = i >= n - keep_last || info.best() || info.pinned();
    if (keep && !rows[i].deleting) continue;
    CheckpointRecord rec = rows[i];
    rec.deleting = true;
    VMAE_RETURN_IF_ERROR(store_->UpsertCheckpoint(rec));
    VMAE_RETURN_IF_ERROR(files_.Remove(job_id, info.id()));
    VMAE_RETURN_IF_ERROR(store_->DeleteCheckpointRow(info.id()));
  }
  return absl::OkStatus();
}

}  // namespace vmae::server
