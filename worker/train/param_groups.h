// The authors' optimizer parameter groups (MCG-NJU/VideoMAE optim_factory.py):
// which parameters get weight decay, and the layer-wise lr decay of
// fine-tuning. Works from named parameters (`module->named_parameters()`
// turned into pairs), so it needs no model code.
#ifndef VMAE_WORKER_TRAIN_PARAM_GROUPS_H_
#define VMAE_WORKER_TRAIN_PARAM_GROUPS_H_

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::train {

// (name, parameter) in the model's registration order, as
// `module->named_parameters()` yields them.
using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

// One optimizer parameter group, as the authors' get_parameter_groups builds
// it: `params` share one weight decay and one lr scale.
struct ParamGroup {
  // "decay" / "no_decay", or "layer_{id}_decay" / "layer_{id}_no_decay" with
  // layer-wise lr decay (the authors' keys).
  std::string name;
  std::vector<std::string> param_names;
  std::vector<torch::Tensor> params;  // parallel to param_names
  // 0 for the no_decay groups.
  double weight_decay = 0.0;
  // Multiplies the scheduled lr: 1 without layer-wise decay.
  double lr_scale = 1.0;
};

// The weight decay split and the layer-wise lr decay.
struct ParamGroupOptions {
  /// Weight decay of the decaying groups. Default: 0.05 (both recipes).
  double weight_decay = 0.05;
  /// Parameters matched by exact full name that never decay (the model's
  /// `no_weight_decay()`). Default: pos_embed, cls_token, mask_token (the
  /// pre-training model's set; the fine-tuning model's {pos_embed,
  /// cls_token} is a subset). Note the authors match the full name, so e.g.
  /// "encoder.pos_embed" is not skipped by "pos_embed".
  std::vector<std::string> skip_list = {"pos_embed", "cls_token", "mask_token"};
  /// Layer-wise lr decay factor; enabled only when < 1 (the authors'
  /// `args.layer_decay < 1.0`). Default: 1 (off: pre-training). Fine-tuning
  /// recipe: 0.75.
  double layer_decay = 1.0;
  /// Number of transformer blocks (the model's get_num_layers()); used only
  /// with layer decay. Default: 12 (ViT-B).
  int64_t depth = 12;
};

// The authors' LayerDecayValueAssigner values:
// [decay^(depth + 1 - i) for i in range(depth + 2)], i.e. depth + 2 scales
// from decay^(depth+1) (layer id 0) down to decay^0 = 1 (layer id depth + 1).
std::vector<double> LayerDecayValues(double layer_decay, int64_t depth);

// The authors' get_num_layer_for_vit(name, num_max_layer), where
// num_max_layer = len(values) = depth + 2:
//   "cls_token", "mask_token", "pos_embed" (exact)  -> 0
//   starts with "patch_embed"                       -> 0
//   starts with "rel_pos_bias"                      -> num_max_layer - 1
//   starts with "blocks": int(name.split('.')[1]) + 1
//   anything else (fc_norm, head, norm, ...)        -> num_max_layer - 1
// So with depth L: patch_embed 0, blocks.k k + 1, head L + 1. Fails with
// InvalidArgument where the authors' int() would raise (a "blocks" name
// without a decimal second component).
absl::StatusOr<int64_t> LayerIdForVit(absl::string_view name, int64_t num_max_layer);

// True when the authors put `name` (with `shape_dims` dimensions) in a
// no_decay group: 1-D, a name ending in ".bias", or in the skip list.
bool IsNoWeightDecay(absl::string_view name, int64_t shape_dims,
                     const std::vector<std::string>& skip_list);

// The authors' get_parameter_groups: parameters that do not require grad are
// left out; groups appear in the order their first parameter does (Python
// dict order) and keep parameter order. With layer decay each group's
// lr_scale is LayerDecayValues()[layer_id]. A weight_decay of 0 still splits
// the groups (the authors then skip grouping altogether, which their engine
// cannot run because the groups lack "lr_scale"; the numbers are the same).
// Fails with InvalidArgument on a bad option or a layer id past the values
// (the authors' IndexError).
absl::StatusOr<std::vector<ParamGroup>> BuildParamGroups(const NamedParameters& named_parameters,
                                                         const ParamGroupOptions& options);

}  // namespace vmae::train

#endif  // VMAE_WORKER_TRAIN_PARAM_GROUPS_H_
