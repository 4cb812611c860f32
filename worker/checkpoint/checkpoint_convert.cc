#include "worker/checkpoint/checkpoint_convert.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint/atomic_file.h"
#include "common/checkpoint/safetensors.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/checkpoint/safetensors_dtype.h"

namespace vmae::checkpoint {
namespace {

namespace fs = std::filesystem;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this writer assumes a little-endian host"
#endif

// The native file ExportToHuggingFace reads, inside the staging directory.
constexpr char kExportSource[] = "export-source.safetensors";

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status SyncDirectory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("opening ", dir.string()));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(err, absl::StrCat("fsync ", dir.string()));
  return absl::OkStatus();
}

// Writes the model tensors as a native safetensors file (metadata as
// SaveNative writes it). Bytes are produced one tensor at a time.
absl::Status WriteStateDict(const std::map<std::string, at::Tensor>& state_dict, ModelKind kind,
                            const std::string& path) {
  SafetensorsWriter writer;
  writer.SetMetadata(kMetadataKindKey, std::string(ModelKindName(kind)));
  writer.SetMetadata("format_version", std::to_string(kNativeFormatVersion));
  for (const auto& [name, tensor] : state_dict) {
    const std::optional<std::string> dtype = SafetensorsDtype(tensor.scalar_type());
    // The shared map also names I64 and I32 (optimizer step counts), which
    // are not model weights.
    if (!dtype || !IsFloatingDtype(*dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": tensor '", name, "' has dtype ",
                                                     c10::toString(tensor.scalar_type()),
                                                     "; model weights must be floating point"));
    }
    const at::Tensor t = tensor;
    writer.AddLazy(name, *dtype, t.sizes().vec(), [t]() -> absl::StatusOr<std::string> {
      const at::Tensor cpu = t.detach().to(at::kCPU).contiguous();
      return std::string(static_cast<const char*>(cpu.data_ptr()),
                         static_cast<size_t>(cpu.nbytes()));
    });
  }
  return writer.WriteAtomically(path);
}

// Fills a fresh staging directory next to `out_dir` with `fill`, then puts
// `files` in place: a rename of the whole directory when `out_dir` does not
// exist, else one rename per file in order. `foreign_file` (the other
// format's companion) must not be in an existing `out_dir`: the result would
// be detected as the wrong format.
absl::Status WriteDirectoryAtomically(const std::string& out_dir,
                                      const std::vector<std::string>& files,
                                      const char* foreign_file,
                                      const std::function<absl::Status(const fs::path&)>& fill) {
  fs::path out = fs::path(out_dir).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" -> "dir".
  if (out.empty()) {
    return absl::InvalidArgumentError("output directory name is empty");
  }
  fs::path parent = out.parent_path();
  if (parent.empty()) parent = ".";
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(out.string(), ": cannot create ", parent.string(), ": ", ec.message()));
  }
  const bool exists = fs::exists(out, ec);
  if (exists && !fs::is_directory(out, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(out.string(), ": exists and is not a directory; choose another output"));
  }
  if (exists && fs::exists(out / foreign_file, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat(out.string(), ": holds ", foreign_file,
                     " of a checkpoint in another format; remove it or choose another directory"));
  }

  std::string staging_template =
      (parent / ("." + out.filename().string() + ".tmp-XXXXXX")).string();
  if (::mkdtemp(staging_template.data()) == nullptr) {
    return ErrnoStatus(
        errno, absl::StrCat(out.string(), ": creating a staging directory in ", parent.string()));
  }
  const fs::path staging(staging_template);
  // mkdtemp makes it 0700; it becomes `out_dir` when that is new.
  fs::permissions(staging,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
  const auto fail = [&staging](absl::Status status) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    return status;
  };

  absl::Status status = fill(staging);
  if (!status.ok()) return fail(status);
  if (!exists) {
    if (::rename(staging.c_str(), out.c_str()) != 0) {
      return fail(ErrnoStatus(errno, absl::StrCat(out.string(), ": renaming ", staging.string())));
    }
    status = SyncDirectory(parent);
    return status.ok() ? status : Annotate(status, out.string());
  }
  for (const std::string& file : files) {
    if (::rename((staging / file).c_str(), (out / file).c_str()) != 0) {
      return fail(ErrnoStatus(errno, absl::StrCat(out.string(), ": moving ", file, " into place")));
    }
  }
  status = SyncDirectory(out);
  fs::remove_all(staging, ec);
  return status.ok() ? status : Annotate(status, out.string());
}

absl::Status RequireComplete(const LoadedCheckpoint& ckpt, absl::string_view out_dir) {
  if (!ckpt.complete) {
    return absl::FailedPreconditionError(absl::StrCat(
        out_dir, ": ", ckpt.files.model_file,
        " was loaded without the architecture check (LoadOptions::strict), so it cannot be "
        "written as a whole checkpoint"));
  }
  return absl::OkStatus();
}

// pretrain.normalize_target of a native job spec, when stated.
std::optional<bool> NormalizeTargetFromJobSpec(const std::string& job_spec_json) {
  if (job_spec_json.empty()) return std::nullopt;
  const nlohmann::json spec =
      nlohmann::json::parse(job_spec_json, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded() || !spec.is_object()) return std::nullopt;
  const auto pretrain = spec.find("pretrain");
  if (pretrain == spec.end() || !pretrain->is_object()) return std::nullopt;
  const auto value = pretrain->find("normalize_target");
  if (value == pretrain->end() || !value->is_boolean()) return std::nullopt;
  return value->get<bool>();
}

int64_t FirstNonZero(int64_t a, int64_t b, int64_t fallback) {
  if (a != 0) return a;
  if (b != 0) return b;
  return fallback;
}

}  // namespace

int64_t StandardNumHeads(int64_t width) {
  switch (width) {
    case 192:
      return 3;
    case 384:
      return 6;
    case 512:
    case 640:
      return 8;
    case 768:
      return 12;
    case 1024:
    case 1280:
    case 1408:
      return 16;
    default:
      return 0;
  }
}

absl::StatusOr<HfConfigInputs> HfConfigForCheckpoint(const LoadedCheckpoint& ckpt,
                                                     const HfExportSettings& settings) {
  const CheckpointDims& d = ckpt.dims;
  const bool pretrain = ckpt.kind == ModelKind::kPretrain;
  HfConfigInputs cfg;
  cfg.kind = ckpt.kind;
  cfg.hidden_size = d.embed_dim;
  cfg.depth = d.depth;
  cfg.heads = FirstNonZero(settings.num_heads, d.num_heads, StandardNumHeads(d.embed_dim));
  if (cfg.heads == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        ckpt.files.model_file, ": the number of attention heads is not stored for width ",
        d.embed_dim, " and is not in the authors' sizes table; give it (num_heads)"));
  }
  cfg.mlp_ratio = d.mlp_ratio();
  cfg.patch_size = d.patch_size;
  cfg.tubelet_size = d.tubelet_size;
  cfg.num_frames = FirstNonZero(settings.num_frames, d.num_frames, 16);
  cfg.image_size = FirstNonZero(settings.image_size, d.image_size, 224);
  if (pretrain) {
    cfg.decoder_hidden_size = d.decoder_embed_dim;
    cfg.decoder_depth = d.decoder_depth;
    cfg.decoder_heads = FirstNonZero(settings.decoder_num_heads, d.decoder_num_heads,
                                     StandardNumHeads(d.decoder_embed_dim));
    if (cfg.decoder_heads == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          ckpt.files.model_file, ": the number of decoder attention heads is not stored for ",
          "width ", d.decoder_embed_dim,
          " and is not in the authors' sizes table; give it (decoder_num_heads)"));
    }
  } else {
    cfg.decoder_hidden_size = 0;
    cfg.decoder_depth = 0;
    cfg.decoder_heads = 0;
    cfg.num_classes = d.num_classes;
    cfg.use_mean_pooling = d.use_mean_pooling;
  }
  std::optional<bool> normalize = settings.normalize_target;
  if (!normalize && ckpt.hf_config) normalize = ckpt.hf_config->inputs.normalize_target;
  if (!normalize && ckpt.manifest) {
    normalize = NormalizeTargetFromJobSpec(ckpt.manifest->job_spec_json);
  }
  cfg.normalize_target = normalize.value_or(true);
  cfg.labels = settings.labels;
  if (cfg.labels.empty() && ckpt.hf_config) cfg.labels = ckpt.hf_config->inputs.labels;
  absl::StatusOr<ModelDims> dims = DimsFromConfig(cfg);
  if (!dims.ok()) return Annotate(dims.status(), ckpt.files.model_file);
  return cfg;
}

absl::StatusOr<NativeManifest> NativeManifestForCheckpoint(const LoadedCheckpoint& ckpt) {
  if (ckpt.manifest) return *ckpt.manifest;
  const CheckpointDims& d = ckpt.dims;
  const bool pretrain = ckpt.kind == ModelKind::kPretrain;
  NativeManifest m;
  m.kind = std::string(ModelKindName(ckpt.kind));
  // A job spec (proto3 JSON of vmae.v1.JobSpec) with what the checkpoint
  // states about the model, so that a later export knows the heads.
  nlohmann::ordered_json model = nlohmann::ordered_json::object();
  model["arch"] = "custom";
  model["embed_dim"] = d.embed_dim;
  model["depth"] = d.depth;
  if (d.num_heads != 0) model["num_heads"] = d.num_heads;
  model["mlp_ratio"] = d.mlp_ratio();
  model["patch_size"] = d.patch_size;
  model["tubelet_size"] = d.tubelet_size;
  if (d.num_frames != 0) model["num_frames"] = d.num_frames;
  if (d.image_size != 0) model["image_size"] = d.image_size;
  if (pretrain) {
    model["decoder_embed_dim"] = d.decoder_embed_dim;
    model["decoder_depth"] = d.decoder_depth;
    if (d.decoder_num_heads != 0) model["decoder_num_heads"] = d.decoder_num_heads;
  } else {
    model["num_classes"] = d.num_classes;
    model["use_mean_pooling"] = d.use_mean_pooling;
  }
  nlohmann::ordered_json spec = nlohmann::ordered_json::object();
  spec["kind"] = pretrain ? "JOB_KIND_PRETRAIN" : "JOB_KIND_FINETUNE";
  spec["model"] = std::move(model);
  if (pretrain && ckpt.hf_config) {
    spec["pretrain"] = {{"normalize_target", ckpt.hf_config->inputs.normalize_target}};
  }
  m.job_spec_json = spec.dump();
  return m;
}

absl::Status WriteNativeCheckpoint(const LoadedCheckpoint& ckpt, const std::string& out_dir) {
  const std::string context = absl::StrCat("writing native checkpoint ", out_dir);
  VMAE_RETURN_IF_ERROR(RequireComplete(ckpt, context));
  VMAE_RETURN_IF_ERROR(
      CheckArchitecture(ckpt.state_dict, ToModelDims(ckpt.dims, ckpt.kind), context));
  VMAE_ASSIGN_OR_RETURN(const NativeManifest manifest, NativeManifestForCheckpoint(ckpt));
  if (manifest.kind != ModelKindName(ckpt.kind)) {
    return absl::FailedPreconditionError(absl::StrCat(context, ": the manifest says '",
                                                      manifest.kind, "' but the weights are ",
                                                      ModelKindName(ckpt.kind)));
  }
  absl::StatusOr<std::string> manifest_json = NativeManifestToJson(manifest);
  if (!manifest_json.ok()) return Annotate(manifest_json.status(), context);

  return WriteDirectoryAtomically(
      out_dir, {kNativeModelFile, kNativeManifestFile}, kHfConfigFile,
      [&](const fs::path& staging) -> absl::Status {
        absl::Status s =
            WriteStateDict(ckpt.state_dict, ckpt.kind, (staging / kNativeModelFile).string());
        if (s.ok())
          s = WriteFileAtomically((staging / kNativeManifestFile).string(), *manifest_json);
        return s.ok() ? s : Annotate(s, context);
      });
}

absl::Status WriteHfCheckpoint(const LoadedCheckpoint& ckpt, const HfExportSettings& settings,
                               const std::string& out_dir) {
  const std::string context = absl::StrCat("writing Hugging Face checkpoint ", out_dir);
  VMAE_RETURN_IF_ERROR(RequireComplete(ckpt, context));
  VMAE_ASSIGN_OR_RETURN(const HfConfigInputs cfg, HfConfigForCheckpoint(ckpt, settings));
  // Checked here too so that a mismatch (e.g. a decoder MLP ratio that
  // differs from the encoder's) fails before anything is written.
  VMAE_ASSIGN_OR_RETURN(const ModelDims dims, DimsFromConfig(cfg));
  VMAE_RETURN_IF_ERROR(CheckArchitecture(ckpt.state_dict, dims, context));

  return WriteDirectoryAtomically(out_dir, {kHfModelFile, kHfConfigFile}, kNativeManifestFile,
                                  [&](const fs::path& staging) -> absl::Status {
                                    // ExportToHuggingFace reads a native file: the one place the
                                    // name map, the qkv split and config.json are produced.
                                    const std::string source = (staging / kExportSource).string();
                                    absl::Status s =
                                        WriteStateDict(ckpt.state_dict, ckpt.kind, source);
                                    if (s.ok())
                                      s = ExportToHuggingFace(source, cfg, staging.string());
                                    std::error_code ec;
                                    fs::remove(source, ec);
                                    return s.ok() ? s : Annotate(s, context);
                                  });
}

}  // namespace vmae::checkpoint
