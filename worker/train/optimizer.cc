#include "worker/train/optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmae::train {
namespace {

torch::optim::AdamWOptions& OptionsOf(torch::optim::OptimizerParamGroup& group) {
  return static_cast<torch::optim::AdamWOptions&>(group.options());
}

const torch::optim::AdamWOptions& OptionsOf(const torch::optim::OptimizerParamGroup& group) {
  return static_cast<const torch::optim::AdamWOptions&>(group.options());
}

// Python's torch.norm(t, 2.0) with no dim: _VF.norm(t, 2.0, dim=all dims).
torch::Tensor NormOverAllDims(const torch::Tensor& t) {
  std::vector<int64_t> dims(static_cast<size_t>(t.dim()));
  for (int64_t d = 0; d < t.dim(); ++d) {
    dims[static_cast<size_t>(d)] = d;
  }
  return at::norm(t, 2.0, dims, /*keepdim=*/false);
}

}  // namespace

absl::StatusOr<GroupedAdamW> GroupedAdamW::Create(const std::vector<ParamGroup>& groups,
                                                  const AdamWConfig& config) {
  if (!(config.beta1 >= 0.0 && config.beta1 < 1.0) ||
      !(config.beta2 >= 0.0 && config.beta2 < 1.0) || !(config.eps >= 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AdamW: need betas in [0, 1) and eps >= 0; got (%g, %g), %g", config.beta1,
                        config.beta2, config.eps));
  }
  if (groups.empty()) {
    return absl::InvalidArgumentError("AdamW: no parameter groups (no trainable parameters?)");
  }
  GroupedAdamW out;
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  torch_groups.reserve(groups.size());
  for (const ParamGroup& group : groups) {
    if (group.params.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("AdamW: parameter group '", group.name, "' is empty"));
    }
    if (!(group.weight_decay >= 0.0) || !std::isfinite(group.lr_scale) || group.lr_scale < 0.0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("AdamW: parameter group '%s' has weight decay %g and lr scale %g",
                          group.name, group.weight_decay, group.lr_scale));
    }
    auto options = std::make_unique<torch::optim::AdamWOptions>(/*lr=*/0.0);
    options->betas(std::make_tuple(config.beta1, config.beta2))
        .eps(config.eps)
        .weight_decay(group.weight_decay)
        .amsgrad(false);
    torch_groups.emplace_back(group.params, std::move(options));
    out.names_.push_back(group.name);
    out.lr_scales_.push_back(group.lr_scale);
  }
  // The defaults only fill options a group lacks; every group has its own.
  torch::optim::AdamWOptions defaults(/*lr=*/0.0);
  defaults.betas(std::make_tuple(config.beta1, config.beta2)).eps(config.eps).weight_decay(0.0);
  out.adamw_ = std::make_unique<torch::optim::AdamW>(std::move(torch_groups), defaults);
  return out;
}

double GroupedAdamW::group_lr(size_t group) const {
  return OptionsOf(adamw().param_groups().at(group)).lr();
}

double GroupedAdamW::group_weight_decay(size_t group) const {
  return OptionsOf(adamw().param_groups().at(group)).weight_decay();
}

std::vector<torch::Tensor> GroupedAdamW::Parameters() const {
  std::vector<torch::Tensor> params;
  for (const auto& group : adamw().param_groups()) {
    params.insert(params.end(), group.params().begin(), group.params().end());
  }
  return params;
}

void ApplySchedule(GroupedAdamW& optimizer, double lr, double wd) {
  auto& groups = optimizer.adamw().param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    torch::optim::AdamWOptions& options = OptionsOf(groups[i]);
    options.lr(lr * optimizer.lr_scale(i));
    if (options.weight_decay() > 0.0) {
      options.weight_decay(wd);
    }
  }
}

double ClipGradNorm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const torch::Tensor& p : params) {
    if (p.grad().defined()) {
      grads.push_back(p.grad().detach());
    }
  }
  if (grads.empty()) {
    return 0.0;
  }
  const torch::Device device = grads[0].device();
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  for (const torch::Tensor& g : grads) {
    norms.push_back(NormOverAllDims(g).to(device));
  }
  const torch::Tensor total_norm = NormOverAllDims(torch::stack(norms));
  if (max_norm > 0.0) {
    // PyTorch 1.13: clip_coef = max_norm / (total_norm + 1e-6), where
    // float / Tensor is Tensor.__rdiv__ = reciprocal() * other; then
    // clamp(max=1) and an unconditional multiply (by 1 when not clipping).
    const torch::Tensor clip_coef = (total_norm + 1e-6).reciprocal() * max_norm;
    const torch::Tensor clip_coef_clamped = torch::clamp(clip_coef, /*min=*/c10::nullopt, 1.0);
    for (torch::Tensor& g : grads) {
      g.mul_(clip_coef_clamped.to(g.device()));
    }
  }
  return total_norm.item<double>();
}

GradAccumulator::GradAccumulator(int64_t accum_steps) : accum_steps_(accum_steps) {
  TORCH_CHECK(accum_steps >= 1, "GradAccumulator: accum_steps must be >= 1, got ", accum_steps);
}

torch::Tensor GradAccumulator::ScaleLoss(const torch::Tensor& loss) const {
  return loss / accum_steps_;
}

bool GradAccumulator::EndMicroBatch() {
  ++micro_batch_;
  if (micro_batch_ == accum_steps_) {
    micro_batch_ = 0;
    return true;
  }
  return false;
}

}  // namespace vmae::train
