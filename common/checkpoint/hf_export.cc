#include "common/checkpoint/hf_export.h"

#include <cmath>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/atomic_file.h"
#include "common/checkpoint/safetensors.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace vmae::checkpoint {
namespace {

// The authors' LayerNorm eps; HF's VideoMAEConfig defaults to 1e-12.
constexpr double kLayerNormEps = 1e-6;
constexpr int64_t kNumChannels = 3;

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

absl::Status Positive(int64_t value, absl::string_view field) {
  if (value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("HF config: ", field, " must be positive, got ", value));
  }
  return absl::OkStatus();
}

absl::Status Divides(int64_t divisor, absl::string_view divisor_field, int64_t value,
                     absl::string_view value_field) {
  if (value % divisor != 0) {
    return absl::InvalidArgumentError(absl::StrCat("HF config: ", value_field, " (", value,
                                                   ") is not a multiple of ", divisor_field, " (",
                                                   divisor, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Intermediate(double mlp_ratio, int64_t width, absl::string_view field) {
  if (!std::isfinite(mlp_ratio) || mlp_ratio <= 0 || mlp_ratio > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("HF config: mlp_ratio must be in (0, 64], got ", mlp_ratio));
  }
  const int64_t size = std::llround(mlp_ratio * static_cast<double>(width));
  VMAE_RETURN_IF_ERROR(Positive(size, field));
  return size;
}

// safetensors dtype -> the `torch_dtype` string transformers writes.
absl::string_view TorchDtypeName(absl::string_view dtype) {
  if (dtype == "F32") {
    return "float32";
  }
  if (dtype == "F16") {
    return "float16";
  }
  if (dtype == "BF16") {
    return "bfloat16";
  }
  if (dtype == "F64") {
    return "float64";
  }
  return "";
}

}  // namespace

absl::StatusOr<ModelDims> DimsFromConfig(const HfConfigInputs& cfg) {
  VMAE_RETURN_IF_ERROR(Positive(cfg.hidden_size, "hidden_size"));
  VMAE_RETURN_IF_ERROR(Positive(cfg.depth, "depth"));
  VMAE_RETURN_IF_ERROR(Positive(cfg.heads, "heads"));
  VMAE_RETURN_IF_ERROR(Divides(cfg.heads, "heads", cfg.hidden_size, "hidden_size"));
  VMAE_RETURN_IF_ERROR(Positive(cfg.patch_size, "patch_size"));
  VMAE_RETURN_IF_ERROR(Positive(cfg.tubelet_size, "tubelet_size"));
  VMAE_RETURN_IF_ERROR(Positive(cfg.num_frames, "num_frames"));
  VMAE_RETURN_IF_ERROR(Positive(cfg.image_size, "image_size"));
  VMAE_RETURN_IF_ERROR(Divides(cfg.patch_size, "patch_size", cfg.image_size, "image_size"));
  VMAE_RETURN_IF_ERROR(Divides(cfg.tubelet_size, "tubelet_size", cfg.num_frames, "num_frames"));

  ModelDims dims;
  dims.kind = cfg.kind;
  dims.hidden_size = cfg.hidden_size;
  VMAE_ASSIGN_OR_RETURN(dims.intermediate_size,
                        Intermediate(cfg.mlp_ratio, cfg.hidden_size, "intermediate_size"));
  dims.depth = cfg.depth;
  dims.num_channels = kNumChannels;
  dims.patch_size = cfg.patch_size;
  dims.tubelet_size = cfg.tubelet_size;
  if (cfg.kind == ModelKind::kPretrain) {
    VMAE_RETURN_IF_ERROR(Positive(cfg.decoder_hidden_size, "decoder_hidden_size"));
    VMAE_RETURN_IF_ERROR(Positive(cfg.decoder_depth, "decoder_depth"));
    VMAE_RETURN_IF_ERROR(Positive(cfg.decoder_heads, "decoder_heads"));
    VMAE_RETURN_IF_ERROR(Divides(cfg.decoder_heads, "decoder_heads", cfg.decoder_hidden_size,
                                 "decoder_hidden_size"));
    dims.decoder_hidden_size = cfg.decoder_hidden_size;
    VMAE_ASSIGN_OR_RETURN(
        dims.decoder_intermediate_size,
        Intermediate(cfg.mlp_ratio, cfg.decoder_hidden_size, "decoder_intermediate_size"));
    dims.decoder_depth = cfg.decoder_depth;
    dims.num_classes = 0;
    dims.use_mean_pooling = false;
  } else {
    VMAE_RETURN_IF_ERROR(Positive(cfg.num_classes, "num_classes"));
    dims.decoder_hidden_size = 0;
    dims.decoder_intermediate_size = 0;
    dims.decoder_depth = 0;
    dims.num_classes = cfg.num_classes;
    dims.use_mean_pooling = cfg.use_mean_pooling;
    if (!cfg.labels.empty()) {
      if (static_cast<int64_t>(cfg.labels.size()) != cfg.num_classes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "HF config: ", cfg.labels.size(), " labels for ", cfg.num_classes, " classes"));
      }
      std::set<absl::string_view> seen;
      for (const std::string& label : cfg.labels) {
        if (!seen.insert(label).second) {
          return absl::InvalidArgumentError(absl::StrCat(
              "HF config: label '", label, "' appears twice (label2id needs distinct labels)"));
        }
      }
    }
  }
  return dims;
}

absl::StatusOr<std::string> BuildHfConfigJson(const HfConfigInputs& cfg,
                                              absl::string_view torch_dtype) {
  VMAE_ASSIGN_OR_RETURN(const ModelDims dims, DimsFromConfig(cfg));
  const bool pretrain = cfg.kind == ModelKind::kPretrain;
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["architectures"] = {pretrain ? "VideoMAEForPreTraining" : "VideoMAEForVideoClassification"};
  j["model_type"] = "videomae";
  j["image_size"] = cfg.image_size;
  j["patch_size"] = cfg.patch_size;
  j["num_channels"] = kNumChannels;
  j["num_frames"] = cfg.num_frames;
  j["tubelet_size"] = cfg.tubelet_size;
  j["hidden_size"] = cfg.hidden_size;
  j["num_hidden_layers"] = cfg.depth;
  j["num_attention_heads"] = cfg.heads;
  j["intermediate_size"] = dims.intermediate_size;
  j["hidden_act"] = "gelu";  // exact (erf) GELU, as the authors use.
  j["hidden_dropout_prob"] = 0.0;
  j["attention_probs_dropout_prob"] = 0.0;
  j["initializer_range"] = 0.02;
  j["layer_norm_eps"] = kLayerNormEps;
  j["qkv_bias"] = true;
  // Pre-training must say false, or HF drops `videomae.layernorm`.
  j["use_mean_pooling"] = pretrain ? false : cfg.use_mean_pooling;
  const bool write_decoder =
      pretrain || (cfg.decoder_hidden_size > 0 && cfg.decoder_depth > 0 && cfg.decoder_heads > 0);
  if (write_decoder) {
    j["decoder_num_attention_heads"] = cfg.decoder_heads;
    j["decoder_hidden_size"] = cfg.decoder_hidden_size;
    j["decoder_num_hidden_layers"] = cfg.decoder_depth;
    VMAE_ASSIGN_OR_RETURN(
        const int64_t decoder_intermediate,
        Intermediate(cfg.mlp_ratio, cfg.decoder_hidden_size, "decoder_intermediate_size"));
    j["decoder_intermediate_size"] = decoder_intermediate;
  }
  j["norm_pix_loss"] = cfg.normalize_target;
  if (!pretrain) {
    j["num_labels"] = cfg.num_classes;
    nlohmann::ordered_json id2label = nlohmann::ordered_json::object();
    nlohmann::ordered_json label2id = nlohmann::ordered_json::object();
    for (int64_t i = 0; i < cfg.num_classes; ++i) {
      const std::string label =
          cfg.labels.empty() ? absl::StrCat("LABEL_", i) : cfg.labels[static_cast<size_t>(i)];
      id2label[absl::StrCat(i)] = label;
      label2id[label] = i;
    }
    j["id2label"] = std::move(id2label);
    j["label2id"] = std::move(label2id);
  }
  if (!torch_dtype.empty()) {
    j["torch_dtype"] = std::string(torch_dtype);
  }
  try {
    return j.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    // A label that is not valid UTF-8.
    return absl::InvalidArgumentError(absl::StrCat("HF config: cannot encode: ", e.what()));
  }
}

absl::Status ExportToHuggingFace(const std::string& native_safetensors_path,
                                 const HfConfigInputs& cfg, const std::string& out_dir) {
  const std::string context =
      absl::StrCat("exporting ", native_safetensors_path, " to ", out_dir, " (Hugging Face)");
  absl::StatusOr<ModelDims> dims = DimsFromConfig(cfg);
  if (!dims.ok()) {
    return Annotate(dims.status(), context);
  }
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(native_safetensors_path);
  if (!file.ok()) {
    return Annotate(file.status(), context);
  }
  const auto kind_it = file->metadata().find(kMetadataKindKey);
  if (kind_it != file->metadata().end()) {
    absl::StatusOr<ModelKind> kind = ParseModelKind(kind_it->second);
    if (!kind.ok()) {
      return Annotate(kind.status(), absl::StrCat(context, ": metadata ", kMetadataKindKey));
    }
    if (*kind != cfg.kind) {
      return absl::FailedPreconditionError(absl::StrCat(
          context, ": the checkpoint is a ", ModelKindName(*kind), " checkpoint (metadata ",
          kMetadataKindKey, ") but a ", ModelKindName(cfg.kind), " export was asked for"));
    }
  }
  absl::StatusOr<std::vector<HfTensorPlan>> plans = PlanHfTensors(file->tensors(), *dims);
  if (!plans.ok()) {
    return Annotate(plans.status(), context);
  }

  // torch_dtype only when every tensor has the same dtype.
  std::set<std::string> dtypes;
  for (const HfTensorPlan& plan : *plans) {
    dtypes.insert(plan.dtype);
  }
  const absl::string_view torch_dtype =
      dtypes.size() == 1 ? TorchDtypeName(*dtypes.begin()) : absl::string_view();
  absl::StatusOr<std::string> config = BuildHfConfigJson(cfg, torch_dtype);
  if (!config.ok()) {
    return Annotate(config.status(), context);
  }

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat(context, ": creating directory ", out_dir, ": ", ec.message()));
  }

  SafetensorsWriter writer;
  // transformers refuses a safetensors file whose metadata lacks
  // format=pt (modeling_utils load_state_dict); save_pretrained writes it.
  writer.SetMetadata("format", "pt");
  const SafetensorsFile& source = *file;
  for (const HfTensorPlan& plan : *plans) {
    writer.AddLazy(plan.hf_name, plan.dtype, plan.shape, [&source, &plan]() {
      return source.ReadBytes(plan.native_name, plan.byte_offset, plan.byte_length);
    });
  }
  const std::string model_path = out_dir + "/model.safetensors";
  absl::Status status = writer.WriteAtomically(model_path);
  if (!status.ok()) {
    return Annotate(status, context);
  }
  status = WriteFileAtomically(out_dir + "/config.json", *config);
  if (!status.ok()) {
    return Annotate(status, context);
  }
  return absl::OkStatus();
}

}  // namespace vmae::checkpoint
