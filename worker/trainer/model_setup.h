// The trainer's model, optimizer and schedule, built from a resolved job
// spec exactly as the authors' run_mae_pretraining.py / run_class_finetuning.py
// build theirs: parameter groups (weight-decay split, layer-wise lr decay
// for fine-tuning), AdamW with the spec's betas and eps, the warmup + cosine
// schedule indexed by samples seen.
#ifndef VMAE_WORKER_TRAINER_MODEL_SETUP_H_
#define VMAE_WORKER_TRAINER_MODEL_SETUP_H_

#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmae/v1/job_spec.pb.h"
#include "worker/model/classifier.h"
#include "worker/model/pretrain_model.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/optimizer.h"
#include "worker/train/train_step.h"
#include "worker/trainer/batch_plan.h"

namespace vmae::trainer {

// One of the two models, by the job's kind.
struct TrainingModel {
  bool pretrain = true;
  model::PretrainVisionTransformer pretrain_model{nullptr};
  model::VisionTransformer classifier{nullptr};

  torch::nn::Module& module();
  const torch::nn::Module& module() const;
  // Parameters in registration order (the order every rank agrees on).
  std::vector<at::Tensor> parameters() const;
  // Parameters and buffers: what rank 0 broadcasts at the start.
  std::vector<at::Tensor> state() const;
};

// The model of the spec's kind on `device`, in training mode. Weights are
// drawn from the spec's seed, so every rank starts identical even before
// rank 0's broadcast.
absl::StatusOr<TrainingModel> BuildModel(const v1::JobSpec& spec, const at::Device& device);

absl::StatusOr<train::GroupedAdamW> BuildOptimizer(const v1::JobSpec& spec,
                                                   const TrainingModel& model);

absl::StatusOr<train::TrainSchedule> BuildSchedule(const v1::JobSpec& spec,
                                                   const BatchPlan& plan);

// The step options: accumulation, clipping, CUDA precision.
absl::StatusOr<train::StepOptions> BuildStepOptions(const v1::JobSpec& spec,
                                                    const BatchPlan& plan);

// Fine-tuning's finetune.init_from: the encoder of a pre-training checkpoint
// (native, Hugging Face or .pth, `encoder.` stripped) or a classifier's
// weights. Every backbone parameter must be found with its shape; the head
// (and fc_norm, which pre-training does not have) stay freshly initialised
// when the checkpoint lacks them or has another class count.
// INVALID_ARGUMENT names what is missing or mis-shaped.
absl::Status InitClassifierFrom(const std::string& checkpoint, model::VisionTransformer& model,
                                std::string* summary);

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_MODEL_SETUP_H_
