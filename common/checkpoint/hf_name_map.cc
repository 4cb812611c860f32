#include "common/checkpoint/hf_name_map.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmae::checkpoint {
namespace {

using D = Dim;
using T = Transform;

constexpr ShapeSpec S1(Dim a) { return {1, {a}}; }
constexpr ShapeSpec S2(Dim a, Dim b) { return {2, {a, b}}; }
constexpr ShapeSpec S3(Dim a, Dim b, Dim c) { return {3, {a, b, c}}; }
constexpr ShapeSpec S5(Dim a, Dim b, Dim c, Dim d, Dim e) { return {5, {a, b, c, d, e}}; }

// ---- The mapping (data). Confirmed against transformers'
// convert_videomae_to_pytorch.py (rename_key, convert_state_dict) and
// modeling_videomae.py (module attribute names). ----

// Per block (authors' `Block` -> HF `VideoMAELayer`). The fused qkv has no
// bias parameter; its rows are [query; key; value]. q_bias and v_bias live
// on HF's VideoMAESelfAttention, i.e. `attention.attention.*`.
constexpr TensorRule kBlockRules[] = {
    {"norm1.weight", T::kRename, {"layernorm_before.weight"}, S1(D::kWidth)},
    {"norm1.bias", T::kRename, {"layernorm_before.bias"}, S1(D::kWidth)},
    {"attn.qkv.weight",
     T::kSplitRows3,
     {"attention.attention.query.weight", "attention.attention.key.weight",
      "attention.attention.value.weight"},
     S2(D::kWidth3, D::kWidth)},
    {"attn.q_bias", T::kRename, {"attention.attention.q_bias"}, S1(D::kWidth)},
    {"attn.v_bias", T::kRename, {"attention.attention.v_bias"}, S1(D::kWidth)},
    {"attn.proj.weight", T::kRename, {"attention.output.dense.weight"}, S2(D::kWidth, D::kWidth)},
    {"attn.proj.bias", T::kRename, {"attention.output.dense.bias"}, S1(D::kWidth)},
    {"norm2.weight", T::kRename, {"layernorm_after.weight"}, S1(D::kWidth)},
    {"norm2.bias", T::kRename, {"layernorm_after.bias"}, S1(D::kWidth)},
    {"mlp.fc1.weight", T::kRename, {"intermediate.dense.weight"}, S2(D::kMlp, D::kWidth)},
    {"mlp.fc1.bias", T::kRename, {"intermediate.dense.bias"}, S1(D::kMlp)},
    {"mlp.fc2.weight", T::kRename, {"output.dense.weight"}, S2(D::kWidth, D::kMlp)},
    {"mlp.fc2.bias", T::kRename, {"output.dense.bias"}, S1(D::kWidth)},
};

constexpr ShapeSpec kPatchEmbedWeight =
    S5(D::kHidden, D::kChannels, D::kTubelet, D::kPatch, D::kPatch);

// VideoMAEForPreTraining. HF keeps `videomae.layernorm` only with
// use_mean_pooling false, which a pre-training export must say.
constexpr TensorRule kPretrainRules[] = {
    {"encoder.patch_embed.proj.weight",
     T::kRename,
     {"videomae.embeddings.patch_embeddings.projection.weight"},
     kPatchEmbedWeight},
    {"encoder.patch_embed.proj.bias",
     T::kRename,
     {"videomae.embeddings.patch_embeddings.projection.bias"},
     S1(D::kHidden)},
    {"encoder.norm.weight", T::kRename, {"videomae.layernorm.weight"}, S1(D::kHidden)},
    {"encoder.norm.bias", T::kRename, {"videomae.layernorm.bias"}, S1(D::kHidden)},
    {"encoder_to_decoder.weight",
     T::kRename,
     {"encoder_to_decoder.weight"},
     S2(D::kDecoderHidden, D::kHidden)},
    {"mask_token", T::kRename, {"mask_token"}, S3(D::kOne, D::kOne, D::kDecoderHidden)},
    {"decoder.norm.weight", T::kRename, {"decoder.norm.weight"}, S1(D::kDecoderHidden)},
    {"decoder.norm.bias", T::kRename, {"decoder.norm.bias"}, S1(D::kDecoderHidden)},
    {"decoder.head.weight",
     T::kRename,
     {"decoder.head.weight"},
     S2(D::kPixelsPerPatch, D::kDecoderHidden)},
    {"decoder.head.bias", T::kRename, {"decoder.head.bias"}, S1(D::kPixelsPerPatch)},
};

// VideoMAEForVideoClassification with use_mean_pooling true: mean over
// tokens, then `fc_norm` (the authors' `norm` is an Identity, no tensors).
constexpr TensorRule kFinetuneMeanPoolRules[] = {
    {"patch_embed.proj.weight",
     T::kRename,
     {"videomae.embeddings.patch_embeddings.projection.weight"},
     kPatchEmbedWeight},
    {"patch_embed.proj.bias",
     T::kRename,
     {"videomae.embeddings.patch_embeddings.projection.bias"},
     S1(D::kHidden)},
    {"fc_norm.weight", T::kRename, {"fc_norm.weight"}, S1(D::kHidden)},
    {"fc_norm.bias", T::kRename, {"fc_norm.bias"}, S1(D::kHidden)},
    {"head.weight", T::kRename, {"classifier.weight"}, S2(D::kClasses, D::kHidden)},
    {"head.bias", T::kRename, {"classifier.bias"}, S1(D::kClasses)},
};

// VideoMAEForVideoClassification with use_mean_pooling false: the final
// `norm` becomes `videomae.layernorm` and there is no fc_norm.
constexpr TensorRule kFinetuneNormRules[] = {
    {"patch_embed.proj.weight",
     T::kRename,
     {"videomae.embeddings.patch_embeddings.projection.weight"},
     kPatchEmbedWeight},
    {"patch_embed.proj.bias",
     T::kRename,
     {"videomae.embeddings.patch_embeddings.projection.bias"},
     S1(D::kHidden)},
    {"norm.weight", T::kRename, {"videomae.layernorm.weight"}, S1(D::kHidden)},
    {"norm.bias", T::kRename, {"videomae.layernorm.bias"}, S1(D::kHidden)},
    {"head.weight", T::kRename, {"classifier.weight"}, S2(D::kClasses, D::kHidden)},
    {"head.bias", T::kRename, {"classifier.bias"}, S1(D::kClasses)},
};

constexpr BlockGroupRule kPretrainGroups[] = {
    {"encoder.blocks.", "videomae.encoder.layer.", false},
    {"decoder.blocks.", "decoder.decoder_layers.", true},
};

constexpr BlockGroupRule kFinetuneGroups[] = {
    {"blocks.", "videomae.encoder.layer.", false},
};

constexpr absl::string_view kDroppedPrefixes[] = {kOptimizerPrefix};

// ---- Expansion and checks. ----

struct GroupSizes {
  int64_t width;
  int64_t mlp;
};

int64_t Resolve(Dim dim, const ModelDims& dims, const GroupSizes& group) {
  switch (dim) {
    case Dim::kOne:
      return 1;
    case Dim::kChannels:
      return dims.num_channels;
    case Dim::kTubelet:
      return dims.tubelet_size;
    case Dim::kPatch:
      return dims.patch_size;
    case Dim::kHidden:
      return dims.hidden_size;
    case Dim::kDecoderHidden:
      return dims.decoder_hidden_size;
    case Dim::kPixelsPerPatch:
      return dims.num_channels * dims.tubelet_size * dims.patch_size * dims.patch_size;
    case Dim::kClasses:
      return dims.num_classes;
    case Dim::kWidth:
      return group.width;
    case Dim::kWidth3:
      return 3 * group.width;
    case Dim::kMlp:
      return group.mlp;
  }
  return -1;
}

ExpectedTensor Expand(const TensorRule& rule, const std::string& native_prefix,
                      const std::string& hf_prefix, const ModelDims& dims,
                      const GroupSizes& group) {
  ExpectedTensor out;
  out.native_name = absl::StrCat(native_prefix, rule.native);
  out.transform = rule.transform;
  for (int i = 0; i < rule.shape.rank; ++i) {
    out.shape.push_back(Resolve(rule.shape.dims[i], dims, group));
  }
  const int parts = rule.transform == Transform::kSplitRows3 ? 3 : 1;
  for (int i = 0; i < parts; ++i) {
    out.hf_names.push_back(absl::StrCat(hf_prefix, rule.hf[i]));
  }
  return out;
}

// Problems listed in a mismatch error: enough to show a pattern, few enough
// that a checkpoint of the wrong model (every tensor off) stays readable.
constexpr size_t kMaxProblemsShown = 10;

// INVALID_ARGUMENT "<heading> (N problems): p1; p2; ...", listing at most
// kMaxProblemsShown of `problems` (non-empty) but counting all of them.
absl::Status MismatchError(absl::string_view heading, std::vector<std::string> problems) {
  const size_t total = problems.size();
  if (total > kMaxProblemsShown) {
    problems.resize(kMaxProblemsShown);
    problems.push_back(absl::StrCat("... and ", total - kMaxProblemsShown, " more"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(heading, " (", total,
                   total == 1 ? " problem): " : " problems): ", absl::StrJoin(problems, "; ")));
}

}  // namespace

absl::string_view ModelKindName(ModelKind kind) {
  switch (kind) {
    case ModelKind::kPretrain:
      return "pretrain";
    case ModelKind::kFinetune:
      return "finetune";
  }
  return "unknown";
}

absl::StatusOr<ModelKind> ParseModelKind(absl::string_view name) {
  if (name == "pretrain") {
    return ModelKind::kPretrain;
  }
  if (name == "finetune") {
    return ModelKind::kFinetune;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown model kind '", name, "' (expected pretrain or finetune)"));
}

absl::Span<const TensorRule> BlockRules() { return kBlockRules; }

absl::Span<const TensorRule> TopLevelRules(ModelKind kind, bool use_mean_pooling) {
  if (kind == ModelKind::kPretrain) {
    return kPretrainRules;
  }
  if (use_mean_pooling) {
    return kFinetuneMeanPoolRules;
  }
  return kFinetuneNormRules;
}

absl::Span<const BlockGroupRule> BlockGroups(ModelKind kind) {
  if (kind == ModelKind::kPretrain) {
    return kPretrainGroups;
  }
  return kFinetuneGroups;
}

absl::Span<const absl::string_view> DroppedPrefixes() { return kDroppedPrefixes; }

std::vector<ExpectedTensor> ExpectedTensors(const ModelDims& dims) {
  std::vector<ExpectedTensor> out;
  const GroupSizes encoder{dims.hidden_size, dims.intermediate_size};
  for (const TensorRule& rule : TopLevelRules(dims.kind, dims.use_mean_pooling)) {
    out.push_back(Expand(rule, "", "", dims, encoder));
  }
  for (const BlockGroupRule& group : BlockGroups(dims.kind)) {
    const GroupSizes sizes =
        group.decoder ? GroupSizes{dims.decoder_hidden_size, dims.decoder_intermediate_size}
                      : encoder;
    const int64_t depth = group.decoder ? dims.decoder_depth : dims.depth;
    for (int64_t i = 0; i < depth; ++i) {
      const std::string native_prefix = absl::StrCat(group.native_prefix, i, ".");
      const std::string hf_prefix = absl::StrCat(group.hf_prefix, i, ".");
      for (const TensorRule& rule : BlockRules()) {
        out.push_back(Expand(rule, native_prefix, hf_prefix, dims, sizes));
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const ExpectedTensor& a, const ExpectedTensor& b) {
    return a.native_name < b.native_name;
  });
  return out;
}

absl::StatusOr<std::vector<HfTensorPlan>> PlanHfTensors(
    const std::map<std::string, TensorInfo>& native, const ModelDims& dims) {
  std::vector<std::string> problems;
  std::vector<HfTensorPlan> plans;
  std::set<std::string> used;

  for (const ExpectedTensor& expected : ExpectedTensors(dims)) {
    const auto it = native.find(expected.native_name);
    if (it == native.end()) {
      problems.push_back(absl::StrCat("missing tensor '", expected.native_name, "' (shape ",
                                      ShapeToString(expected.shape), ")"));
      continue;
    }
    used.insert(expected.native_name);
    const TensorInfo& info = it->second;
    if (!IsFloatingDtype(info.dtype)) {
      problems.push_back(absl::StrCat("tensor '", expected.native_name, "' has dtype ", info.dtype,
                                      "; model weights must be F32, F16, BF16 or F64"));
      continue;
    }
    if (info.shape != expected.shape) {
      std::string why;
      if (expected.transform == Transform::kSplitRows3 && !info.shape.empty() &&
          info.shape[0] % 3 != 0) {
        why = ": its rows are not divisible by 3, so it cannot be split into query, key, value";
      }
      problems.push_back(absl::StrCat("tensor '", expected.native_name, "' has shape ",
                                      ShapeToString(info.shape), ", the architecture needs ",
                                      ShapeToString(expected.shape), why));
      continue;
    }
    const int parts = static_cast<int>(expected.hf_names.size());
    std::vector<int64_t> part_shape = info.shape;
    part_shape[0] /= parts;  // parts == 1, or 3 and rows == 3W (checked above).
    const int64_t part_bytes = info.size() / parts;
    for (int p = 0; p < parts; ++p) {
      HfTensorPlan plan;
      plan.hf_name = expected.hf_names[p];
      plan.native_name = expected.native_name;
      plan.dtype = info.dtype;
      plan.shape = part_shape;
      plan.byte_offset = p * part_bytes;
      plan.byte_length = part_bytes;
      plans.push_back(std::move(plan));
    }
  }

  for (const auto& entry : native) {
    const std::string& name = entry.first;
    if (used.count(name) != 0) {
      continue;
    }
    const bool dropped =
        std::any_of(DroppedPrefixes().begin(), DroppedPrefixes().end(),
                    [&name](absl::string_view prefix) { return absl::StartsWith(name, prefix); });
    if (!dropped) {
      problems.push_back(absl::StrCat("unexpected tensor '", name, "' (shape ",
                                      ShapeToString(entry.second.shape), ") for a ",
                                      ModelKindName(dims.kind), " model"));
    }
  }

  if (!problems.empty()) {
    return MismatchError(
        absl::StrCat("checkpoint does not match the ", ModelKindName(dims.kind), " architecture"),
        std::move(problems));
  }
  std::sort(plans.begin(), plans.end(),
            [](const HfTensorPlan& a, const HfTensorPlan& b) { return a.hf_name < b.hf_name; });
  return plans;
}

absl::StatusOr<std::vector<NativeTensorPlan>> PlanNativeTensors(
    const std::map<std::string, TensorInfo>& hf, const ModelDims& dims) {
  std::vector<std::string> problems;
  std::vector<NativeTensorPlan> plans;
  std::set<std::string> used;

  for (const ExpectedTensor& expected : ExpectedTensors(dims)) {
    NativeTensorPlan plan;
    plan.native_name = expected.native_name;
    plan.shape = expected.shape;
    plan.hf_names = expected.hf_names;
    // A split tensor's parts each hold a third of the rows.
    std::vector<int64_t> part_shape = expected.shape;
    part_shape[0] /= static_cast<int64_t>(expected.hf_names.size());
    bool ok = true;
    for (const std::string& hf_name : expected.hf_names) {
      plan.hf_shapes.push_back(part_shape);
      const auto it = hf.find(hf_name);
      if (it == hf.end()) {
        problems.push_back(absl::StrCat("missing tensor '", hf_name, "' (shape ",
                                        ShapeToString(part_shape), ", becomes '",
                                        expected.native_name, "')"));
        ok = false;
        continue;
      }
      used.insert(hf_name);
      const TensorInfo& info = it->second;
      if (!IsFloatingDtype(info.dtype)) {
        problems.push_back(absl::StrCat("tensor '", hf_name, "' has dtype ", info.dtype,
                                        "; model weights must be F32, F16, BF16 or F64"));
        ok = false;
      } else if (info.shape != part_shape) {
        problems.push_back(absl::StrCat("tensor '", hf_name, "' has shape ",
                                        ShapeToString(info.shape), ", the configuration needs ",
                                        ShapeToString(part_shape)));
        ok = false;
      }
    }
    if (ok) {
      plans.push_back(std::move(plan));
    }
  }

  for (const auto& entry : hf) {
    if (used.count(entry.first) == 0) {
      problems.push_back(absl::StrCat("unexpected tensor '", entry.first, "' (shape ",
                                      ShapeToString(entry.second.shape), ") for a ",
                                      ModelKindName(dims.kind), " model"));
    }
  }

  if (!problems.empty()) {
    return MismatchError(absl::StrCat("Hugging Face tensors do not match the ",
                                      ModelKindName(dims.kind), " configuration"),
                         std::move(problems));
  }
  return plans;  // sorted by native name, as ExpectedTensors() is.
}

}  // namespace vmae::checkpoint
