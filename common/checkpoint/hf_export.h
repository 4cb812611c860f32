// Export of a native checkpoint to Hugging Face `transformers` format:
// `model.safetensors` (HF names, fused qkv split, optimizer state dropped)
// and `config.json` (a VideoMAEConfig), loadable by
// VideoMAEForPreTraining / VideoMAEForVideoClassification.from_pretrained.
// No LibTorch; the coordinator uses it for DownloadCheckpoint(format=HF).
#ifndef VMAE_COMMON_CHECKPOINT_HF_EXPORT_H_
#define VMAE_COMMON_CHECKPOINT_HF_EXPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/checkpoint/hf_name_map.h"

namespace vmae::checkpoint {

// What config.json needs; filled by the caller from the job spec (plain
// fields, no proto dependency). Defaults: ViT-B, 16x224, decoder 384/4/6.
struct HfConfigInputs {
  // Pre-training or classifier. Default: kPretrain.
  ModelKind kind = ModelKind::kPretrain;
  // Encoder width. Default: 768.
  int64_t hidden_size = 768;
  // Encoder blocks. Default: 12.
  int64_t depth = 12;
  // Encoder attention heads (must divide hidden_size). Default: 12.
  int64_t heads = 12;
  // MLP hidden size / width, for encoder and decoder; the intermediate
  // sizes are round(mlp_ratio * width). Default: 4.
  double mlp_ratio = 4.0;
  // Spatial patch side. Default: 16.
  int64_t patch_size = 16;
  // Frames per tubelet. Default: 2.
  int64_t tubelet_size = 2;
  // Frames per clip. Default: 16.
  int64_t num_frames = 16;
  // Square input side. Default: 224.
  int64_t image_size = 224;
  // Pre-training decoder width, blocks and heads. Defaults: 384, 4, 6.
  int64_t decoder_hidden_size = 384;
  int64_t decoder_depth = 4;
  int64_t decoder_heads = 6;
  // Classifier outputs (fine-tuning; required there). Default: 0.
  int64_t num_classes = 0;
  // Classifier pooling: mean + fc_norm (true) or first token after norm
  // (false). Ignored for pre-training, whose export always says false so
  // that HF keeps `videomae.layernorm`. Default: true.
  bool use_mean_pooling = true;
  // Pre-training target normalisation (HF `norm_pix_loss`). Default: true.
  bool normalize_target = true;
  // Class names in class-index order; empty means "LABEL_i". When set, must
  // have num_classes distinct entries. Default: empty.
  std::vector<std::string> labels;
};

// Validates `cfg` and derives the sizes the name map needs.
// INVALID_ARGUMENT naming the offending field.
absl::StatusOr<ModelDims> DimsFromConfig(const HfConfigInputs& cfg);

// The config.json text for `cfg` (validated). `torch_dtype` ("float32",
// ...) is written when not empty.
absl::StatusOr<std::string> BuildHfConfigJson(const HfConfigInputs& cfg,
                                              absl::string_view torch_dtype);

// Reads the native safetensors file, checks it against `cfg` (and against
// its "vmae.kind" metadata when present), and writes out_dir/model.safetensors
// and out_dir/config.json atomically (creating out_dir if needed). Tensors
// are streamed one at a time. INVALID_ARGUMENT names every missing,
// unexpected or misshapen tensor; FAILED_PRECONDITION when the file's kind
// differs from cfg.kind.
absl::Status ExportToHuggingFace(const std::string& native_safetensors_path,
                                 const HfConfigInputs& cfg, const std::string& out_dir);

}  // namespace vmae::checkpoint

#endif  // VMAE_COMMON_CHECKPOINT_HF_EXPORT_H_
