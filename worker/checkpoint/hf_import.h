// Import of Hugging Face `transformers` VideoMAE checkpoints (what
// VideoMAEForPreTraining / VideoMAEForVideoClassification.save_pretrained
// write, and what our ExportToHuggingFace writes): `config.json` plus
// `model.safetensors`, into a state dict under the VideoMAE authors' names.
//
// The name map is the export's (common/checkpoint/hf_name_map.h) run
// backwards: renamed tensors keep their bytes, and the query, key and value
// weights of each block are concatenated by rows back into the fused
// `attn.qkv.weight`. The configuration decides which tensors must exist and
// with which shapes; a file with any tensor missing, misshapen or left over
// is refused with every problem named.
//
// Both files are untrusted: the safetensors header is validated by
// SafetensorsFile::Open and config.json is bounded and parsed without
// exceptions. Errors name the file. Nothing here throws.
#ifndef VMAE_WORKER_CHECKPOINT_HF_IMPORT_H_
#define VMAE_WORKER_CHECKPOINT_HF_IMPORT_H_

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/checkpoint/hf_export.h"
#include "common/checkpoint/hf_name_map.h"
#include "common/checkpoint/safetensors.h"

namespace vmae::checkpoint {

// File names of a Hugging Face checkpoint directory.
inline constexpr char kHfModelFile[] = "model.safetensors";
inline constexpr char kHfConfigFile[] = "config.json";

// What a config.json says about the weights.
struct HfConfig {
  // The sizes in the export's terms (so that an imported model exports to
  // the same config.json): kind, widths, depths, heads, patch, tubelet,
  // frames, image size, classes, pooling, norm_pix_loss, labels.
  // mlp_ratio = intermediate_size / hidden_size.
  HfConfigInputs inputs;
  // The tensors it implies: DimsFromConfig(inputs).
  ModelDims dims;
  // True when `architectures` named the model class; false when the kind
  // came from the tensor names.
  bool kind_from_architectures = false;
  // LayerNorm eps of the encoder blocks (transformers' default 1e-12; the
  // authors' models use 1e-6).
  double layer_norm_eps = 1e-12;
};

// Parses config.json text. Absent fields take VideoMAEConfig's defaults
// (save_pretrained leaves out values equal to them). `kind_hint` is used when
// `architectures` names neither VideoMAEForPreTraining nor
// VideoMAEForVideoClassification. `file` names the source in errors.
// INVALID_ARGUMENT for malformed JSON, a mistyped field, a model_type other
// than "videomae", num_channels other than 3, qkv_bias false (the authors'
// blocks always have q_bias and v_bias), encoder and decoder MLP ratios that
// differ, an unknown kind without a hint, or sizes DimsFromConfig refuses.
absl::StatusOr<HfConfig> ParseHfConfig(const std::string& json_text, const std::string& file,
                                       std::optional<ModelKind> kind_hint);

// The kind transformers' tensor names imply: `decoder.*`, `mask_token` or
// `encoder_to_decoder.*` mean pre-training, `classifier.*` or `fc_norm.*`
// classification; nullopt when neither (or both) appear.
std::optional<ModelKind> KindFromHfNames(const std::map<std::string, TensorInfo>& tensors);

// True when some tensor is under transformers' `videomae.` prefix, which
// the authors' names never use.
bool HasHfNames(const std::map<std::string, TensorInfo>& tensors);

// Reads tensor `name` of `file` (F64, F32, F16 or BF16) as a contiguous CPU
// tensor, converted to `dtype` (nullopt: the file's dtype). NOT_FOUND for an
// unknown name, INVALID_ARGUMENT for a non-floating dtype, DATA_LOSS when
// the file changed since it was opened.
absl::StatusOr<at::Tensor> ReadFloatTensor(const SafetensorsFile& file, const std::string& name,
                                           std::optional<at::ScalarType> dtype);

struct HfImportOptions {
  // dtype of the returned tensors; nullopt keeps each tensor's own.
  // Default: float32.
  std::optional<at::ScalarType> dtype = at::kFloat;
};

struct HfImport {
  // Every tensor of the model under the authors' names.
  std::map<std::string, at::Tensor> tensors;
  HfConfig config;
  std::string model_path;
  std::string config_path;
  // The file's dtype ("F32", "F16", "BF16", "F64"), or "mixed".
  std::string source_dtype;
};

// Imports `model_path` (model.safetensors) with `config_path` (config.json).
// NOT_FOUND when either file is missing (naming it and what to do);
// INVALID_ARGUMENT / DATA_LOSS for a malformed file; INVALID_ARGUMENT
// listing every missing, unexpected and misshapen tensor when the weights
// do not match the configuration.
absl::StatusOr<HfImport> ImportHfFiles(const std::string& model_path,
                                       const std::string& config_path,
                                       const HfImportOptions& options = {});

// ImportHfFiles(dir/model.safetensors, dir/config.json).
absl::StatusOr<HfImport> ImportHf(const std::string& dir, const HfImportOptions& options = {});

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_HF_IMPORT_H_
