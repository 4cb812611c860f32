#include "worker/checkpoint/checkpoint_loader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/checkpoint/safetensors.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/checkpoint/safetensors_dtype.h"

namespace vmae::checkpoint {
namespace {

namespace fs = std::filesystem;

// A bound on block indices read from names: far above any real model (ViT-g
// has 40 blocks), low enough that a hostile name cannot make the checks
// expand billions of expected tensors.
constexpr int64_t kMaxDepth = 4096;
// manifest.json is written by us and small.
constexpr uint64_t kMaxManifestBytes = uint64_t{64} << 20;

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// "F32" etc. for the dtypes the weights may have; other types get their
// LibTorch name, which the architecture check reports as non-floating.
std::string DtypeName(at::ScalarType type) {
  return SafetensorsDtype(type).value_or(c10::toString(type));
}

std::string CommonDtype(const std::map<std::string, at::Tensor>& state_dict) {
  std::set<std::string> dtypes;
  for (const auto& entry : state_dict) {
    dtypes.insert(DtypeName(entry.second.scalar_type()));
  }
  if (dtypes.empty()) return "";
  return dtypes.size() == 1 ? *dtypes.begin() : "mixed";
}

absl::StatusOr<std::string> ReadManifestText(const std::string& path) {
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read (", ec.message(), ")"));
  }
  if (size > kMaxManifestBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": larger than 64 MiB"));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string text(static_cast<size_t>(size), '\0');
  const size_t got = std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  if (got != text.size()) return absl::DataLossError(absl::StrCat(path, ": short read"));
  return text;
}

// True for the first bytes of a zip (what torch.save writes since 1.6).
bool LooksLikeZip(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const size_t got = std::fread(magic, 1, sizeof(magic), f);
  std::fclose(f);
  return got == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

bool HasPthExtension(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".pth" || ext == ".pt";
}

// A safetensors file whose companions live in its directory.
absl::StatusOr<DetectedCheckpoint> DetectSafetensors(const fs::path& model_file) {
  VMAE_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(model_file.string()));
  const fs::path dir = model_file.parent_path();
  DetectedCheckpoint out;
  out.model_file = model_file.string();
  if (HasHfNames(file.tensors())) {
    out.format = CheckpointFormat::kHf;
    const fs::path config = dir / kHfConfigFile;
    if (!Exists(config)) {
      return absl::NotFoundError(absl::StrCat(
          config.string(), ": missing; ", model_file.string(),
          " has Hugging Face tensor names, and a Hugging Face checkpoint needs the config.json "
          "that save_pretrained writes next to it"));
    }
    out.config_file = config.string();
    return out;
  }
  out.format = CheckpointFormat::kNative;
  const fs::path manifest = dir / kNativeManifestFile;
  if (Exists(manifest)) out.manifest_file = manifest.string();
  return out;
}

absl::StatusOr<DetectedCheckpoint> DetectDirectory(const fs::path& dir) {
  const fs::path manifest = dir / kNativeManifestFile;
  const fs::path config = dir / kHfConfigFile;
  const fs::path model = dir / kNativeModelFile;
  if (Exists(manifest)) {
    if (!Exists(model)) {
      return absl::NotFoundError(absl::StrCat(
          model.string(), ": missing; a native checkpoint has model.safetensors next to ",
          manifest.string()));
    }
    DetectedCheckpoint out;
    out.format = CheckpointFormat::kNative;
    out.model_file = model.string();
    out.manifest_file = manifest.string();
    return out;
  }
  if (Exists(config)) {
    if (!Exists(model)) {
      const bool bin = Exists(dir / "pytorch_model.bin");
      return absl::NotFoundError(absl::StrCat(
          model.string(), ": missing; a Hugging Face checkpoint needs model.safetensors next to ",
          config.string(),
          bin ? " (pytorch_model.bin is not read: save the model again with "
                "safe_serialization=True)"
              : ""));
    }
    DetectedCheckpoint out;
    out.format = CheckpointFormat::kHf;
    out.model_file = model.string();
    out.config_file = config.string();
    return out;
  }
  if (Exists(model)) return DetectSafetensors(model);
  return absl::InvalidArgumentError(absl::StrCat(
      dir.string(),
      ": not a checkpoint directory (found none of manifest.json, config.json, "
      "model.safetensors); give a native checkpoint directory (manifest.json + "
      "model.safetensors), a Hugging Face directory (config.json + model.safetensors), a "
      ".safetensors file or an authors' .pth/.pt file"));
}

// Index i of names `prefix{i}.*`: the number of blocks, i.e. the largest
// index + 1. INVALID_ARGUMENT when the indices are not 0..n-1 or exceed
// kMaxDepth (and `strict`); otherwise the count of distinct indices.
absl::StatusOr<int64_t> CountBlocks(const std::map<std::string, at::Tensor>& state_dict,
                                    absl::string_view prefix, bool strict,
                                    absl::string_view context) {
  std::set<int64_t> indices;
  for (const auto& entry : state_dict) {
    absl::string_view name = entry.first;
    if (!absl::ConsumePrefix(&name, prefix)) continue;
    const size_t dot = name.find('.');
    int64_t index = 0;
    if (dot == absl::string_view::npos || !absl::SimpleAtoi(name.substr(0, dot), &index) ||
        index < 0) {
      continue;  // not a block tensor; the architecture check reports it.
    }
    if (index >= kMaxDepth) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": tensor '", entry.first,
                                                     "' has a block index above ", kMaxDepth));
    }
    indices.insert(index);
  }
  if (indices.empty()) return 0;
  const int64_t depth = *indices.rbegin() + 1;
  if (depth != static_cast<int64_t>(indices.size())) {
    if (strict) {
      int64_t gap = 0;
      while (indices.count(gap) != 0) ++gap;
      return absl::InvalidArgumentError(absl::StrCat(context, ": blocks '", prefix,
                                                     "N.*' go up to ", depth - 1, " but block ",
                                                     gap, " has no tensors"));
    }
    return static_cast<int64_t>(indices.size());
  }
  return depth;
}

// The shape of `name` when it has `rank`, else nullptr.
const at::Tensor* WithRank(const std::map<std::string, at::Tensor>& state_dict,
                           const std::string& name, int64_t rank) {
  const auto it = state_dict.find(name);
  if (it == state_dict.end() || it->second.dim() != rank) return nullptr;
  return &it->second;
}

// Heads and input geometry from a native manifest's job spec (proto3 JSON
// of vmae.v1.JobSpec, `model` field), when it states them for this width.
void DimsFromJobSpec(const std::string& job_spec_json, CheckpointDims& dims) {
  if (job_spec_json.empty()) return;
  const nlohmann::json spec =
      nlohmann::json::parse(job_spec_json, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded() || !spec.is_object()) return;
  const auto model = spec.find("model");
  if (model == spec.end() || !model->is_object()) return;
  const auto get = [&](const char* key) -> int64_t {
    const auto it = model->find(key);
    if (it == model->end() || !it->is_number_integer()) return 0;
    const int64_t v = it->get<int64_t>();
    return v > 0 ? v : 0;
  };
  // A spec for another width is not this model's.
  const int64_t embed_dim = get("embed_dim");
  if (embed_dim != 0 && embed_dim != dims.embed_dim) return;
  const int64_t heads = get("num_heads");
  if (heads != 0 && dims.embed_dim % heads == 0) dims.num_heads = heads;
  const int64_t decoder_heads = get("decoder_num_heads");
  if (decoder_heads != 0 && dims.decoder_embed_dim != 0 &&
      dims.decoder_embed_dim % decoder_heads == 0) {
    dims.decoder_num_heads = decoder_heads;
  }
  dims.num_frames = get("num_frames");
  dims.image_size = get("image_size");
}

CheckpointDims DimsFromHfConfig(const HfConfig& config) {
  const HfConfigInputs& in = config.inputs;
  const ModelDims& d = config.dims;
  CheckpointDims dims;
  dims.embed_dim = d.hidden_size;
  dims.depth = d.depth;
  dims.num_heads = in.heads;
  dims.mlp_hidden = d.intermediate_size;
  dims.in_chans = d.num_channels;
  dims.patch_size = d.patch_size;
  dims.tubelet_size = d.tubelet_size;
  if (d.kind == ModelKind::kPretrain) {
    dims.decoder_embed_dim = d.decoder_hidden_size;
    dims.decoder_depth = d.decoder_depth;
    dims.decoder_num_heads = in.decoder_heads;
    dims.decoder_mlp_hidden = d.decoder_intermediate_size;
  } else {
    dims.num_classes = d.num_classes;
    dims.use_mean_pooling = d.use_mean_pooling;
  }
  dims.num_frames = in.num_frames;
  dims.image_size = in.image_size;
  return dims;
}

absl::Status LoadNativeInto(const DetectedCheckpoint& det, const LoadOptions& options,
                            LoadedCheckpoint& out) {
  if (!det.manifest_file.empty()) {
    VMAE_ASSIGN_OR_RETURN(const std::string text, ReadManifestText(det.manifest_file));
    VMAE_ASSIGN_OR_RETURN(out.manifest, ParseNativeManifest(text, det.manifest_file));
  }
  VMAE_ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::Open(det.model_file));

  // The kind: the file's metadata, else the manifest, else the names.
  std::optional<ModelKind> kind;
  const auto meta = file.metadata().find(kMetadataKindKey);
  if (meta != file.metadata().end()) {
    absl::StatusOr<ModelKind> parsed = ParseModelKind(meta->second);
    if (!parsed.ok()) {
      return Annotate(parsed.status(),
                      absl::StrCat(det.model_file, ": metadata ", kMetadataKindKey));
    }
    kind = *parsed;
  }
  if (out.manifest) {
    VMAE_ASSIGN_OR_RETURN(const ModelKind manifest_kind, ParseModelKind(out.manifest->kind));
    if (kind && *kind != manifest_kind) {
      return absl::FailedPreconditionError(
          absl::StrCat(det.model_file, ": ", kMetadataKindKey, " is '", ModelKindName(*kind),
                       "' but ", det.manifest_file, " says '", out.manifest->kind,
                       "'; the two files are from different checkpoints"));
    }
    kind = manifest_kind;
  }

  int64_t optimizer_tensors = 0;
  for (const auto& entry : file.tensors()) {
    if (absl::StartsWith(entry.first, kOptimizerPrefix)) {
      ++optimizer_tensors;
      continue;
    }
    VMAE_ASSIGN_OR_RETURN(at::Tensor t, ReadFloatTensor(file, entry.first, options.dtype));
    out.state_dict.emplace(entry.first, std::move(t));
  }
  if (optimizer_tensors > 0) {
    out.notes.push_back(
        absl::StrCat("optimizer state (", optimizer_tensors, " tensors) not loaded"));
  }
  std::set<std::string> dtypes;
  for (const auto& entry : file.tensors()) {
    if (!absl::StartsWith(entry.first, kOptimizerPrefix)) dtypes.insert(entry.second.dtype);
  }
  out.source_dtype = dtypes.size() == 1 ? *dtypes.begin() : dtypes.empty() ? "" : "mixed";
  if (kind) {
    out.kind = *kind;
  } else {
    VMAE_ASSIGN_OR_RETURN(out.kind, KindFromNames(out.state_dict, det.model_file));
  }
  return absl::OkStatus();
}

absl::Status LoadPthInto(const DetectedCheckpoint& det, const LoadOptions& options,
                         LoadedCheckpoint& out) {
  VMAE_ASSIGN_OR_RETURN(ImportResult imported, ImportPth(det.model_file, options.pth));
  out.source_dtype = CommonDtype(imported.tensors);
  for (auto& [name, t] : imported.tensors) {
    at::Tensor tensor = t;
    if (options.dtype && tensor.is_floating_point() && tensor.scalar_type() != *options.dtype) {
      tensor = tensor.to(*options.dtype);
    }
    out.state_dict.emplace(name, std::move(tensor));
  }
  out.notes.push_back(imported.weights_key.empty()
                          ? std::string("weights: the top-level dict")
                          : absl::StrCat("weights: entry '", imported.weights_key, "'"));
  if (!imported.other_entries.empty()) {
    out.notes.push_back(
        absl::StrCat("not imported: ", absl::StrJoin(imported.other_entries, ", ")));
  }
  if (!imported.renamed.empty()) {
    out.notes.push_back(absl::StrCat(imported.renamed.size(), " names had a prefix stripped"));
  }
  if (!imported.dropped.empty()) {
    out.notes.push_back(absl::StrCat(imported.dropped.size(), " tensors dropped by prefix"));
  }
  VMAE_ASSIGN_OR_RETURN(out.kind, KindFromNames(out.state_dict, det.model_file));
  return absl::OkStatus();
}

}  // namespace

absl::string_view CheckpointFormatName(CheckpointFormat format) {
  switch (format) {
    case CheckpointFormat::kNative:
      return "native";
    case CheckpointFormat::kHf:
      return "hf";
    case CheckpointFormat::kPth:
      return "pth";
  }
  return "unknown";
}

double CheckpointDims::mlp_ratio() const {
  if (embed_dim == 0) return 0;
  return static_cast<double>(mlp_hidden) / static_cast<double>(embed_dim);
}

ModelDims ToModelDims(const CheckpointDims& dims, ModelKind kind) {
  ModelDims out;
  out.kind = kind;
  out.hidden_size = dims.embed_dim;
  out.intermediate_size = dims.mlp_hidden;
  out.depth = dims.depth;
  out.num_channels = dims.in_chans;
  out.patch_size = dims.patch_size;
  out.tubelet_size = dims.tubelet_size;
  out.decoder_hidden_size = dims.decoder_embed_dim;
  out.decoder_intermediate_size = dims.decoder_mlp_hidden;
  out.decoder_depth = dims.decoder_depth;
  out.num_classes = dims.num_classes;
  out.use_mean_pooling = dims.use_mean_pooling;
  return out;
}

absl::StatusOr<DetectedCheckpoint> DetectCheckpoint(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file or directory"));
  }
  if (fs::is_directory(status)) return DetectDirectory(path);
  if (!fs::is_regular_file(status)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file or a directory"));
  }
  if (LooksLikeZip(path) || HasPthExtension(path)) {
    // A non-zip .pth (the pre-1.6 legacy format) is refused by ImportPth
    // with its own explanation.
    DetectedCheckpoint out;
    out.format = CheckpointFormat::kPth;
    out.model_file = path;
    return out;
  }
  absl::StatusOr<DetectedCheckpoint> out = DetectSafetensors(path);
  if (!out.ok() && out.status().code() != absl::StatusCode::kNotFound) {
    return Annotate(out.status(),
                    absl::StrCat("not a torch.save zip (.pth/.pt) and not a readable safetensors "
                                 "file"));
  }
  return out;
}

absl::StatusOr<ModelKind> KindFromNames(const std::map<std::string, at::Tensor>& state_dict,
                                        absl::string_view context) {
  bool pretrain = false;
  bool finetune = false;
  for (const auto& entry : state_dict) {
    const std::string& n = entry.first;
    pretrain = pretrain || absl::StartsWith(n, "encoder.") || absl::StartsWith(n, "decoder.") ||
               absl::StartsWith(n, "encoder_to_decoder.") || n == "mask_token";
    finetune = finetune || absl::StartsWith(n, "patch_embed.") || absl::StartsWith(n, "blocks.") ||
               absl::StartsWith(n, "fc_norm.") || absl::StartsWith(n, "norm.") ||
               absl::StartsWith(n, "head.");
  }
  if (pretrain && finetune) {
    return absl::InvalidArgumentError(
        absl::StrCat(context,
                     ": the tensor names mix a pre-training model (encoder.*, decoder.*) and a "
                     "classifier (patch_embed.*, blocks.*, head.*)"));
  }
  if (!pretrain && !finetune) {
    return absl::InvalidArgumentError(
        absl::StrCat(context,
                     ": no VideoMAE tensors (expected encoder.patch_embed.* for pre-training or "
                     "patch_embed.* for a classifier, under the authors' names)"));
  }
  return pretrain ? ModelKind::kPretrain : ModelKind::kFinetune;
}

absl::StatusOr<CheckpointDims> InferDims(const std::map<std::string, at::Tensor>& state_dict,
                                         ModelKind kind, bool require_complete,
                                         absl::string_view context) {
  const bool pretrain = kind == ModelKind::kPretrain;
  const std::string prefix = pretrain ? "encoder." : "";
  CheckpointDims dims;
  const auto need = [&](const std::string& name, absl::string_view shape) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": no tensor '", name, "' with shape ", shape,
                     ", so the architecture cannot be read off the checkpoint"));
  };

  const std::string patch_name = prefix + "patch_embed.proj.weight";
  if (const at::Tensor* t = WithRank(state_dict, patch_name, 5)) {
    dims.embed_dim = t->size(0);
    dims.in_chans = t->size(1);
    dims.tubelet_size = t->size(2);
    dims.patch_size = t->size(3);
    if (t->size(3) != t->size(4)) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": '", patch_name,
                                                     "' has non-square patches ",
                                                     ShapeToString(t->sizes().vec())));
    }
  } else if (require_complete) {
    return need(patch_name, "[D, C, t, p, p]");
  }

  VMAE_ASSIGN_OR_RETURN(dims.depth,
                        CountBlocks(state_dict, prefix + "blocks.", require_complete, context));
  const std::string fc1_name = prefix + "blocks.0.mlp.fc1.weight";
  if (const at::Tensor* t = WithRank(state_dict, fc1_name, 2)) {
    dims.mlp_hidden = t->size(0);
  } else if (require_complete) {
    return need(fc1_name, "[I, D]");
  }

  if (pretrain) {
    if (const at::Tensor* t = WithRank(state_dict, "encoder_to_decoder.weight", 2)) {
      dims.decoder_embed_dim = t->size(0);
    } else if (const at::Tensor* m = WithRank(state_dict, "mask_token", 3)) {
      dims.decoder_embed_dim = m->size(2);
    }
    if (dims.decoder_embed_dim == 0 && require_complete) {
      return need("encoder_to_decoder.weight", "[Dd, D]");
    }
    VMAE_ASSIGN_OR_RETURN(dims.decoder_depth,
                          CountBlocks(state_dict, "decoder.blocks.", require_complete, context));
    if (const at::Tensor* t = WithRank(state_dict, "decoder.blocks.0.mlp.fc1.weight", 2)) {
      dims.decoder_mlp_hidden = t->size(0);
    } else if (require_complete) {
      return need("decoder.blocks.0.mlp.fc1.weight", "[Id, Dd]");
    }
  } else {
    if (const at::Tensor* t = WithRank(state_dict, "head.weight", 2)) {
      dims.num_classes = t->size(0);
    } else if (require_complete) {
      return need("head.weight", "[C, D]");
    }
    // The authors' classifier has fc_norm with mean pooling and norm without.
    dims.use_mean_pooling = state_dict.count("fc_norm.weight") != 0;
  }
  return dims;
}

absl::Status CheckArchitecture(const std::map<std::string, at::Tensor>& state_dict,
                               const ModelDims& dims, absl::string_view context) {
  std::map<std::string, TensorInfo> infos;
  for (const auto& [name, t] : state_dict) {
    TensorInfo info;
    info.dtype = DtypeName(t.scalar_type());
    info.shape = t.sizes().vec();
    info.end = static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size());
    infos.emplace(name, std::move(info));
  }
  absl::StatusOr<std::vector<HfTensorPlan>> plans = PlanHfTensors(infos, dims);
  if (!plans.ok()) return Annotate(plans.status(), context);
  return absl::OkStatus();
}

int64_t CountElements(const std::map<std::string, at::Tensor>& state_dict) {
  int64_t total = 0;
  for (const auto& entry : state_dict) total += entry.second.numel();
  return total;
}

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path,
                                                const LoadOptions& options) {
  LoadedCheckpoint out;
  VMAE_ASSIGN_OR_RETURN(out.files, DetectCheckpoint(path));
  out.format = out.files.format;
  const std::string& model_file = out.files.model_file;
  switch (out.format) {
    case CheckpointFormat::kHf: {
      HfImportOptions hf_options;
      hf_options.dtype = options.dtype;
      VMAE_ASSIGN_OR_RETURN(HfImport imported,
                            ImportHfFiles(model_file, out.files.config_file, hf_options));
      out.kind = imported.config.dims.kind;
      out.state_dict = std::move(imported.tensors);
      out.source_dtype = imported.source_dtype;
      out.dims = DimsFromHfConfig(imported.config);
      if (!imported.config.kind_from_architectures) {
        out.notes.push_back(absl::StrCat("kind ", ModelKindName(out.kind),
                                         " from the tensor names (config.json does not say)"));
      }
      out.hf_config = std::move(imported.config);
      out.complete = true;  // ImportHfFiles checked every tensor.
      break;
    }
    case CheckpointFormat::kNative:
      VMAE_RETURN_IF_ERROR(LoadNativeInto(out.files, options, out));
      break;
    case CheckpointFormat::kPth:
      VMAE_RETURN_IF_ERROR(LoadPthInto(out.files, options, out));
      break;
  }

  if (out.format != CheckpointFormat::kHf) {
    VMAE_ASSIGN_OR_RETURN(out.dims,
                          InferDims(out.state_dict, out.kind, options.strict, model_file));
    if (out.manifest) DimsFromJobSpec(out.manifest->job_spec_json, out.dims);
    if (options.strict) {
      VMAE_RETURN_IF_ERROR(
          CheckArchitecture(out.state_dict, ToModelDims(out.dims, out.kind), model_file));
      out.complete = true;
    }
  }
  out.num_parameters = CountElements(out.state_dict);
  return out;
}

}  // namespace vmae::checkpoint
