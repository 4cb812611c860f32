#include "worker/trainer/model_setup.h"

#include <torch/torch.h>

#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/tool/checkpoint_weights.h"
#include "worker/tool/model_from_spec.h"
#include "worker/train/param_groups.h"

namespace vmae::trainer {
namespace {

train::NamedParameters NamedParametersOf(const torch::nn::Module& module) {
  train::NamedParameters out;
  for (const auto& item : module.named_parameters()) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

// The spec's lr fields are absolute (lr) or per 256 videos (base_lr,
// min_lr); the schedule takes per-256 values and scales them itself.
double PerBatch256(double absolute_lr, int64_t global_batch) {
  return absolute_lr * 256.0 / static_cast<double>(global_batch);
}

}  // namespace

torch::nn::Module& TrainingModel::module() {
  return pretrain ? static_cast<torch::nn::Module&>(*pretrain_model)
                  : static_cast<torch::nn::Module&>(*classifier);
}

const torch::nn::Module& TrainingModel::module() const {
  return pretrain ? static_cast<const torch::nn::Module&>(*pretrain_model)
                  : static_cast<const torch::nn::Module&>(*classifier);
}

std::vector<at::Tensor> TrainingModel::parameters() const { return module().parameters(); }

std::vector<at::Tensor> TrainingModel::state() const {
  std::vector<at::Tensor> out = module().parameters();
  for (const at::Tensor& b : module().buffers()) {
    out.push_back(b);
  }
  return out;
}

absl::StatusOr<TrainingModel> BuildModel(const v1::JobSpec& spec, const at::Device& device) {
  TrainingModel out;
  out.pretrain = spec.kind() == v1::JOB_KIND_PRETRAIN;
  const model::ModelOptions options = tool::ModelOptionsFromSpec(spec.model());
  torch::manual_seed(static_cast<uint64_t>(spec.seed()));
  try {
    if (out.pretrain) {
      out.pretrain_model = model::PretrainVisionTransformer(options);
      out.pretrain_model->to(device);
      out.pretrain_model->train();
    } else {
      out.classifier = model::VisionTransformer(options);
      out.classifier->to(device);
      out.classifier->train();
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot build the model from the job's model section: ",
                     e.what_without_backtrace(), "; check model.* against the arch presets"));
  }
  return out;
}

absl::StatusOr<train::GroupedAdamW> BuildOptimizer(const v1::JobSpec& spec,
                                                   const TrainingModel& model) {
  train::ParamGroupOptions groups;
  groups.weight_decay = spec.optimizer().weight_decay();
  if (!model.pretrain) {
    // The classifier's no_weight_decay() set; layer-wise lr decay.
    groups.skip_list = {"pos_embed", "cls_token"};
    groups.layer_decay = spec.finetune().layer_decay() > 0 ? spec.finetune().layer_decay() : 1.0;
    groups.depth = spec.model().depth();
  }
  std::vector<train::ParamGroup> param_groups;
  VMAE_ASSIGN_OR_RETURN(param_groups,
                        train::BuildParamGroups(NamedParametersOf(model.module()), groups));
  train::AdamWConfig config;
  if (spec.optimizer().betas_size() == 2) {
    config.beta1 = spec.optimizer().betas(0);
    config.beta2 = spec.optimizer().betas(1);
  }
  if (spec.optimizer().eps() > 0) {
    config.eps = spec.optimizer().eps();
  }
  return train::GroupedAdamW::Create(param_groups, config);
}

absl::StatusOr<train::TrainSchedule> BuildSchedule(const v1::JobSpec& spec,
                                                   const BatchPlan& plan) {
  const v1::OptimizerSpec& o = spec.optimizer();
  train::TrainScheduleOptions s;
  s.lr = o.lr() > 0 ? PerBatch256(o.lr(), plan.global_batch) : o.base_lr();
  s.min_lr = o.min_lr();
  s.epochs = o.epochs();
  // Whole warmup epochs as the authors pass them; a fractional count is
  // turned into iterations (their --warmup_steps).
  const double warmup = o.warmup_epochs();
  if (warmup == std::floor(warmup)) {
    s.warmup_epochs = static_cast<int64_t>(warmup);
  } else {
    s.warmup_epochs = 1;
    s.warmup_steps = std::llround(warmup * static_cast<double>(plan.steps_per_epoch));
  }
  s.weight_decay = o.weight_decay();
  s.global_batch = plan.global_batch;
  s.steps_per_epoch = plan.steps_per_epoch;
  return train::TrainSchedule::Create(s);
}

absl::StatusOr<train::StepOptions> BuildStepOptions(const v1::JobSpec& spec,
                                                    const BatchPlan& plan) {
  train::StepOptions options;
  options.accum_steps = plan.accum_steps;
  options.clip_grad = spec.optimizer().clip_grad();
  const std::string& precision = spec.resources().precision();
  if (!precision.empty()) {
    const std::optional<train::Precision> p = train::ParsePrecision(precision);
    if (!p) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resources.precision: unknown precision '", precision, "'; use fp32, bf16 or fp16"));
    }
    options.cuda_precision = *p;
  }
  return options;
}

absl::Status InitClassifierFrom(const std::string& checkpoint, model::VisionTransformer& model,
                                std::string* summary) {
  tool::CheckpointWeights weights;
  VMAE_ASSIGN_OR_RETURN(weights, tool::ReadCheckpointWeights(checkpoint));
  std::map<std::string, at::Tensor> source;
  for (auto& [name, tensor] : weights.tensors) {
    if (!weights.pretrain) {
      source.emplace(name, tensor);
    } else if (absl::StartsWith(name, "encoder.")) {
      source.emplace(name.substr(8), tensor);
    }
  }
  std::vector<std::string> missing;
  std::vector<std::string> mismatched;
  std::vector<std::pair<at::Tensor, at::Tensor>> copies;
  int64_t fresh = 0;
  for (const auto& item : model->named_parameters()) {
    const std::string& name = item.key();
    const bool optional = absl::StartsWith(name, "head.") || absl::StartsWith(name, "fc_norm.");
    const auto it = source.find(name);
    if (it == source.end() || (optional && it->second.sizes() != item.value().sizes())) {
      if (optional) {
        ++fresh;
        continue;
      }
      missing.push_back(name);
      continue;
    }
    if (it->second.sizes() != item.value().sizes()) {
      mismatched.push_back(absl::StrCat(name, " (checkpoint ", c10::str(it->second.sizes()),
                                        ", model ", c10::str(item.value().sizes()), ")"));
      continue;
    }
    copies.emplace_back(item.value(), it->second);
  }
  if (!missing.empty() || !mismatched.empty()) {
    if (missing.size() > 5) missing.resize(5);
    if (mismatched.size() > 5) mismatched.resize(5);
    return absl::InvalidArgumentError(absl::StrCat(
        "finetune.init_from '", checkpoint, "' does not fit the job's model: missing [",
        absl::StrJoin(missing, ", "), "], mis-shaped [", absl::StrJoin(mismatched, ", "),
        "]; make model.* match the pre-training job's model section"));
  }
  torch::NoGradGuard no_grad;
  for (auto& [param, value] : copies) {
    param.copy_(value.to(param.device(), param.scalar_type()));
  }
  if (summary != nullptr) {
    *summary = absl::StrCat("initialised ", copies.size(), " tensors from ", weights.format,
                            weights.pretrain ? " pre-training" : " classifier", " checkpoint ",
                            checkpoint, "; ", fresh, " head/fc_norm tensors fresh");
  }
  return absl::OkStatus();
}

}  // namespace vmae::trainer
