// Native checkpoint names -> Hugging Face `transformers` names, as data.
//
// Our native checkpoints name model tensors exactly as the VideoMAE
// authors' PyTorch state dicts do (MCG-NJU/VideoMAE); the export target is
// `transformers`' VideoMAEForPreTraining / VideoMAEForVideoClassification.
// The tables below (per-block renames, top-level renames, block groups,
// dropped prefixes) are the whole mapping; PlanHfTensors() only expands
// them for a given depth and checks the checkpoint against them. Every HF
// name was confirmed against transformers' convert_videomae_to_pytorch.py
// and modeling_videomae.py; see docs/checkpoint-format.md.
#ifndef VMAE_COMMON_CHECKPOINT_HF_NAME_MAP_H_
#define VMAE_COMMON_CHECKPOINT_HF_NAME_MAP_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/checkpoint/safetensors.h"

namespace vmae::checkpoint {

// Safetensors "__metadata__" key naming the model kind: "pretrain" or
// "finetune".
inline constexpr char kMetadataKindKey[] = "vmae.kind";
// Optimizer state (AdamW moments, step counts) shares the native file under
// this prefix; the Hugging Face export drops it.
inline constexpr char kOptimizerPrefix[] = "optimizer.";

enum class ModelKind { kPretrain, kFinetune };

// "pretrain" / "finetune".
absl::string_view ModelKindName(ModelKind kind);
// Inverse of ModelKindName(); INVALID_ARGUMENT for anything else.
absl::StatusOr<ModelKind> ParseModelKind(absl::string_view name);

// The sizes the name map and the shape checks need.
struct ModelDims {
  ModelKind kind = ModelKind::kPretrain;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t depth = 12;
  int64_t num_channels = 3;
  int64_t patch_size = 16;
  int64_t tubelet_size = 2;
  // Pre-training only.
  int64_t decoder_hidden_size = 384;
  int64_t decoder_intermediate_size = 1536;
  int64_t decoder_depth = 4;
  // Fine-tuning only.
  int64_t num_classes = 0;
  // Fine-tuning: mean pooling + `fc_norm` (true) or the first token after
  // the final `norm` (false).
  bool use_mean_pooling = true;
};

// A symbolic dimension of an expected shape, resolved against ModelDims.
// kWidth, kWidth3 and kMlp refer to the block group's own sizes (encoder or
// decoder).
enum class Dim {
  kOne,
  kChannels,
  kTubelet,
  kPatch,
  kHidden,
  kDecoderHidden,
  kPixelsPerPatch,  // channels * tubelet * patch * patch (the decoder head).
  kClasses,
  kWidth,
  kWidth3,
  kMlp,
};

struct ShapeSpec {
  int rank = 0;
  std::array<Dim, 5> dims{};
};

enum class Transform {
  kRename,      // one native tensor -> hf[0], bytes unchanged.
  kSplitRows3,  // [3W, ...] -> hf[0], hf[1], hf[2]: rows [0,W), [W,2W), [2W,3W).
};

// One native tensor (a full name, or a suffix after a block prefix) and
// what it becomes.
struct TensorRule {
  absl::string_view native;
  Transform transform;
  std::array<absl::string_view, 3> hf;
  ShapeSpec shape;  // the native tensor's expected shape.
};

// Blocks `native_prefix{i}.` (i < depth) map to `hf_prefix{i}.` with the
// suffixes of BlockRules().
struct BlockGroupRule {
  absl::string_view native_prefix;
  absl::string_view hf_prefix;
  bool decoder;  // sizes from the decoder fields of ModelDims.
};

// The per-block renames, shared by encoder and decoder blocks.
absl::Span<const TensorRule> BlockRules();
// The tensors outside blocks, for a kind (and, when fine-tuning, pooling).
absl::Span<const TensorRule> TopLevelRules(ModelKind kind, bool use_mean_pooling);
// The block groups of a kind.
absl::Span<const BlockGroupRule> BlockGroups(ModelKind kind);
// Native name prefixes that are not model weights and are left out.
absl::Span<const absl::string_view> DroppedPrefixes();

// One native tensor the architecture needs, expanded for a depth.
struct ExpectedTensor {
  std::string native_name;
  std::vector<int64_t> shape;
  Transform transform;
  std::vector<std::string> hf_names;  // 1, or 3 for kSplitRows3.
};

// Every native tensor `dims` needs, sorted by native name.
std::vector<ExpectedTensor> ExpectedTensors(const ModelDims& dims);

// One tensor of the Hugging Face file: bytes [byte_offset, byte_offset +
// byte_length) of native tensor `native_name`, with a new name and shape.
struct HfTensorPlan {
  std::string hf_name;
  std::string native_name;
  std::string dtype;
  std::vector<int64_t> shape;
  int64_t byte_offset = 0;
  int64_t byte_length = 0;
};

// Checks a native checkpoint's tensors against `dims` and plans the HF
// tensors (sorted by HF name). INVALID_ARGUMENT, naming every offending
// tensor (up to a limit), when a needed tensor is missing, has the wrong
// shape or a non-floating dtype, or when a tensor is neither needed nor
// under a dropped prefix.
absl::StatusOr<std::vector<HfTensorPlan>> PlanHfTensors(
    const std::map<std::string, TensorInfo>& native, const ModelDims& dims);

// The inverse direction (Hugging Face import): one native tensor assembled
// from HF tensors `hf_names`, concatenated by rows (one name for a rename;
// query, key, value for the fused qkv).
struct NativeTensorPlan {
  std::string native_name;
  std::vector<int64_t> shape;                   // the native tensor's shape.
  std::vector<std::string> hf_names;            // 1, or 3 for kSplitRows3.
  std::vector<std::vector<int64_t>> hf_shapes;  // each part's expected shape.
};

// Inverse of PlanHfTensors(), from the same tables: checks a Hugging Face
// file's tensors against `dims` and plans the native tensors (sorted by
// native name). INVALID_ARGUMENT, naming every offending HF tensor (up to a
// limit), when a needed tensor is missing, has the wrong shape or a
// non-floating dtype, or when a tensor is not part of the architecture.
absl::StatusOr<std::vector<NativeTensorPlan>> PlanNativeTensors(
    const std::map<std::string, TensorInfo>& hf, const ModelDims& dims);

}  // namespace vmae::checkpoint

#endif  // VMAE_COMMON_CHECKPOINT_HF_NAME_MAP_H_
