#include "worker/train/param_groups.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace vmae::train {
namespace {

// Parses a non-negative decimal block index ("7"). The authors' int() also
// takes signs, spaces and underscores; no module path has those.
bool ParseBlockIndex(absl::string_view text, int64_t* out) {
  if (text.empty() || text.size() > 9) {
    return false;
  }
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    value = value * 10 + (c - '0');
  }
  *out = value;
  return true;
}

}  // namespace

std::vector<double> LayerDecayValues(double layer_decay, int64_t depth) {
  // Python: list(layer_decay ** (num_layers + 1 - i) for i in range(num_layers + 2));
  // float ** int is C pow() on doubles.
  std::vector<double> values;
  values.reserve(static_cast<size_t>(depth + 2));
  for (int64_t i = 0; i < depth + 2; ++i) {
    values.push_back(std::pow(layer_decay, static_cast<double>(depth + 1 - i)));
  }
  return values;
}

absl::StatusOr<int64_t> LayerIdForVit(absl::string_view name, int64_t num_max_layer) {
  if (name == "cls_token" || name == "mask_token" || name == "pos_embed") {
    return 0;
  }
  if (absl::StartsWith(name, "patch_embed")) {
    return 0;
  }
  if (absl::StartsWith(name, "rel_pos_bias")) {
    return num_max_layer - 1;
  }
  if (absl::StartsWith(name, "blocks")) {
    // Python: int(var_name.split('.')[1]) + 1. Note the prefix test has no
    // dot, exactly like the authors' ("blocksX.3.w" would also parse).
    std::vector<absl::string_view> parts = absl::StrSplit(name, '.');
    int64_t index = 0;
    if (parts.size() < 2 || !ParseBlockIndex(parts[1], &index)) {
      return absl::InvalidArgumentError(
          absl::StrCat("layer id of parameter '", name,
                       "': starts with 'blocks' but has no block index after the first '.'"));
    }
    return index + 1;
  }
  return num_max_layer - 1;
}

bool IsNoWeightDecay(absl::string_view name, int64_t shape_dims,
                     const std::vector<std::string>& skip_list) {
  // Python: len(param.shape) == 1 or name.endswith(".bias") or name in skip_list
  if (shape_dims == 1 || absl::EndsWith(name, ".bias")) {
    return true;
  }
  for (const std::string& skip : skip_list) {
    if (name == skip) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<std::vector<ParamGroup>> BuildParamGroups(const NamedParameters& named_parameters,
                                                         const ParamGroupOptions& options) {
  if (!(options.weight_decay >= 0.0) || !std::isfinite(options.weight_decay)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "parameter groups: weight_decay must be finite and >= 0, got %g", options.weight_decay));
  }
  const bool layer_decay = options.layer_decay < 1.0;
  std::vector<double> scales;
  if (layer_decay) {
    if (!(options.layer_decay > 0.0)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "parameter groups: layer_decay must be in (0, 1], got %g", options.layer_decay));
    }
    if (options.depth < 0 || options.depth > 10000) {
      return absl::InvalidArgumentError(
          absl::StrFormat("parameter groups: depth must be in [0, 10000], got %d", options.depth));
    }
    scales = LayerDecayValues(options.layer_decay, options.depth);
  }
  const auto num_max_layer = static_cast<int64_t>(scales.size());

  std::vector<ParamGroup> groups;
  std::unordered_map<std::string, size_t> index_of;
  for (const auto& [name, param] : named_parameters) {
    if (!param.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter groups: parameter '", name, "' is undefined"));
    }
    if (!param.requires_grad()) {
      continue;  // frozen weights
    }
    const bool no_decay = IsNoWeightDecay(name, param.dim(), options.skip_list);
    std::string group_name = no_decay ? "no_decay" : "decay";
    const double weight_decay = no_decay ? 0.0 : options.weight_decay;
    double scale = 1.0;
    if (layer_decay) {
      absl::StatusOr<int64_t> layer_id = LayerIdForVit(name, num_max_layer);
      if (!layer_id.ok()) {
        return layer_id.status();
      }
      if (*layer_id < 0 || *layer_id >= num_max_layer) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "parameter groups: parameter '%s' has layer id %d but depth %d allows 0..%d", name,
            *layer_id, options.depth, num_max_layer - 1));
      }
      group_name = absl::StrFormat("layer_%d_%s", *layer_id, group_name);
      scale = scales[static_cast<size_t>(*layer_id)];
    }
    auto [it, inserted] = index_of.try_emplace(group_name, groups.size());
    if (inserted) {
      ParamGroup group;
      group.name = group_name;
      group.weight_decay = weight_decay;
      group.lr_scale = scale;
      groups.push_back(std::move(group));
    }
    ParamGroup& group = groups[it->second];
    group.param_names.push_back(name);
    group.params.push_back(param);
  }
  return groups;
}

}  // namespace vmae::train
