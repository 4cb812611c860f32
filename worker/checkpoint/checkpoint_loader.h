// One entry point for every checkpoint the `vmae` tool accepts: a native
// checkpoint directory (manifest.json + model.safetensors) or its
// model.safetensors alone, a Hugging Face directory (config.json +
// model.safetensors), or the VideoMAE authors' `.pth` / `.pt` file. The
// format is detected, the weights come back under the authors' names, and
// the architecture is read off the tensor shapes (and config.json or the
// manifest's job spec where they say more), so that `vmae inspect` and
// `vmae convert` need no model configuration.
//
// Files are untrusted; see safetensors.h, hf_import.h and pth_import.h for
// the checks. Errors name the file and say what to do. Nothing here throws.
#ifndef VMAE_WORKER_CHECKPOINT_CHECKPOINT_LOADER_H_
#define VMAE_WORKER_CHECKPOINT_CHECKPOINT_LOADER_H_

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint/hf_name_map.h"
#include "worker/checkpoint/hf_import.h"
#include "worker/checkpoint/native/native_checkpoint.h"
#include "worker/checkpoint/pth_import.h"

namespace vmae::checkpoint {

enum class CheckpointFormat { kNative, kHf, kPth };

// "native", "hf", "pth".
absl::string_view CheckpointFormatName(CheckpointFormat format);

// Where a checkpoint's files are.
struct DetectedCheckpoint {
  CheckpointFormat format = CheckpointFormat::kNative;
  // The weights: model.safetensors, or the .pth file.
  std::string model_file;
  // Native: manifest.json when there is one (empty for a bare
  // model.safetensors without it). Empty otherwise.
  std::string manifest_file;
  // Hugging Face: config.json. Empty otherwise.
  std::string config_file;
};

// Decides the format of `path` from what is there, without reading tensors:
//   a directory with manifest.json -> native; with config.json -> hf; with
//   only model.safetensors -> by its tensor names (transformers' names are
//   under `videomae.`: hf, which then needs config.json; else native);
//   a zip file (.pth / .pt, `torch.save`) -> pth;
//   a safetensors file -> by its tensor names, with manifest.json or
//   config.json from the same directory.
// NOT_FOUND when `path` does not exist or a required companion file is
// missing; INVALID_ARGUMENT for a directory or file that is none of these
// (the message lists what was looked for).
absl::StatusOr<DetectedCheckpoint> DetectCheckpoint(const std::string& path);

// The architecture as far as the checkpoint tells it; sizes are 0 where it
// does not. Names follow model::ModelOptions.
struct CheckpointDims {
  int64_t embed_dim = 0;
  int64_t depth = 0;
  // Not in tensor shapes: from config.json (hf) or the manifest's job spec
  // (native); 0 when unknown.
  int64_t num_heads = 0;
  // Rows of the first block's mlp.fc1.weight.
  int64_t mlp_hidden = 0;
  int64_t in_chans = 0;
  int64_t patch_size = 0;
  int64_t tubelet_size = 0;
  // Pre-training only.
  int64_t decoder_embed_dim = 0;
  int64_t decoder_depth = 0;
  int64_t decoder_num_heads = 0;  // 0 when unknown, as num_heads.
  int64_t decoder_mlp_hidden = 0;
  // Fine-tuning only.
  int64_t num_classes = 0;
  bool use_mean_pooling = false;
  // Input geometry: from config.json or the job spec; 0 when unknown.
  int64_t num_frames = 0;
  int64_t image_size = 0;

  // mlp_hidden / embed_dim (0 when unknown).
  double mlp_ratio() const;
};

// The name map's sizes for `dims` of `kind`.
ModelDims ToModelDims(const CheckpointDims& dims, ModelKind kind);

struct LoadedCheckpoint {
  CheckpointFormat format = CheckpointFormat::kNative;
  ModelKind kind = ModelKind::kPretrain;
  // The files it came from.
  DetectedCheckpoint files;
  // Every model tensor under the authors' names (optimizer state left out).
  std::map<std::string, at::Tensor> state_dict;
  // Native with manifest.json: where training stood (step, samples seen).
  std::optional<NativeManifest> manifest;
  // Hugging Face: what config.json said.
  std::optional<HfConfig> hf_config;
  CheckpointDims dims;
  // The file's weight dtype ("F32", "F16", "BF16", "F64") or "mixed".
  std::string source_dtype;
  // Sum of numel over state_dict.
  int64_t num_parameters = 0;
  // True when the state dict was checked to hold exactly the tensors of
  // `dims` (LoadOptions::strict); only such a checkpoint can be converted.
  bool complete = false;
  // What was left out or assumed, one line each, for `vmae inspect`
  // (optimizer tensors skipped, .pth entries besides the weights, ...).
  std::vector<std::string> notes;
};

struct LoadOptions {
  // dtype of the returned tensors; nullopt keeps the file's. Default:
  // float32.
  std::optional<at::ScalarType> dtype = at::kFloat;
  // How the weights of a .pth file are picked and renamed (prefix stripping,
  // dropping); ImportOptions::ForFinetuning() for a fine-tuning init from a
  // pre-training checkpoint (then set strict = false: that dict has no
  // head). Default: no renaming.
  ImportOptions pth;
  // Require exactly the tensors of the architecture the shapes imply
  // (missing, unexpected and misshapen tensors are errors). Without it the
  // dims are inferred as far as the tensors allow. A Hugging Face
  // checkpoint is always checked against its config.json. Default: true.
  bool strict = true;
};

// Detects the format of `path` and loads it. Errors as DetectCheckpoint,
// ImportHf, ImportPth and SafetensorsFile::Open; with `strict`,
// INVALID_ARGUMENT naming the file and every tensor that does not fit;
// FAILED_PRECONDITION when a native file's `vmae.kind` and its manifest
// disagree.
absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path,
                                                const LoadOptions& options = {});

// The kind the authors' names imply: `encoder.*`, `decoder.*`,
// `encoder_to_decoder.*` or `mask_token` mean pre-training; `patch_embed.*`,
// `blocks.*`, `fc_norm.*`, `norm.*` or `head.*` fine-tuning.
// INVALID_ARGUMENT (prefixed with `context`) when they mix both or name
// neither.
absl::StatusOr<ModelKind> KindFromNames(const std::map<std::string, at::Tensor>& state_dict,
                                        absl::string_view context);

// Reads the architecture off the shapes of an authors'-names state dict of
// `kind`. With `require_complete`, INVALID_ARGUMENT (prefixed with
// `context`) when a tensor it needs is missing or has the wrong rank; without
// it, what cannot be read stays 0.
absl::StatusOr<CheckpointDims> InferDims(const std::map<std::string, at::Tensor>& state_dict,
                                         ModelKind kind, bool require_complete,
                                         absl::string_view context);

// OK when `state_dict` holds exactly the tensors of `dims` with their shapes
// and floating dtypes; otherwise INVALID_ARGUMENT prefixed with `context`
// listing the missing, unexpected and misshapen ones (PlanHfTensors's check).
absl::Status CheckArchitecture(const std::map<std::string, at::Tensor>& state_dict,
                               const ModelDims& dims, absl::string_view context);

// Sum of numel over the tensors.
int64_t CountElements(const std::map<std::string, at::Tensor>& state_dict);

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_CHECKPOINT_LOADER_H_
