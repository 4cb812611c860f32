// The VideoMAE fine-tuning classifier (authors' modeling_finetune.VisionTransformer).
#ifndef VMAE_WORKER_MODEL_CLASSIFIER_H_
#define VMAE_WORKER_MODEL_CLASSIFIER_H_

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "worker/model/options.h"
#include "worker/model/patch_embed.h"
#include "worker/model/sinusoid.h"

namespace vmae::model {

// patch_embed -> + sinusoid table -> dropout -> blocks -> then either
// (use_mean_pooling) mean over tokens and `fc_norm`, or `norm` and the first
// token (there is no CLS token) -> dropout -> head.
// Keys: patch_embed.proj.*, blocks.{i}.*, fc_norm.* (mean pooling) or
// norm.* (otherwise), head.*. Not thread-safe.
class VisionTransformerImpl : public torch::nn::Cloneable<VisionTransformerImpl> {
 public:
  explicit VisionTransformerImpl(const ModelOptions& options);
  void reset() override;
  // The authors' init: every Linear weight trunc_normal(std 0.02, cut at
  // -2 / +2 absolute: timm's defaults), biases 0, LayerNorm 1/0, then the
  // head weight and bias multiplied by init_scale. Conv3d keeps defaults.
  void reset_parameters();
  // x: [B, C, T, H, W] normalised clip -> logits [B, num_classes].
  at::Tensor forward(const at::Tensor& x);
  // The pooled features before the head dropout and head, [B, D].
  at::Tensor forward_features(const at::Tensor& x);

  ModelOptions options;
  PatchEmbed patch_embed = nullptr;
  torch::nn::Dropout pos_drop = nullptr;
  torch::nn::ModuleList blocks = nullptr;
  torch::nn::LayerNorm norm = nullptr;     // null with mean pooling (authors' Identity)
  torch::nn::LayerNorm fc_norm = nullptr;  // null without mean pooling
  torch::nn::Dropout fc_dropout = nullptr;
  torch::nn::Linear head = nullptr;

 private:
  PositionTable pos_embed_;
};
TORCH_MODULE(VisionTransformer);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_CLASSIFIER_H_
