#include "worker/model/classifier.h"

#include <torch/torch.h>

#include "worker/model/block.h"
#include "worker/model/init.h"

namespace vmae::model {

VisionTransformerImpl::VisionTransformerImpl(const ModelOptions& options_) : options(options_) {
  reset();
}

void VisionTransformerImpl::reset() {
  const ModelOptions& o = options;
  TORCH_CHECK(o.num_classes() > 0, "VisionTransformer: num_classes must be positive, got ",
              o.num_classes());
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptionsFrom(o)));
  pos_drop = register_module("pos_drop", torch::nn::Dropout(o.proj_dropout()));
  blocks = register_module("blocks", MakeBlocks(o.depth(), o.embed_dim(), o.num_heads(),
                                                o.mlp_ratio(), o.drop_path(), o.attn_dropout(),
                                                o.proj_dropout()));
  const auto norm_options = torch::nn::LayerNormOptions({o.embed_dim()}).eps(kLayerNormEps);
  if (o.use_mean_pooling()) {
    norm = nullptr;
    fc_norm = register_module("fc_norm", torch::nn::LayerNorm(norm_options));
  } else {
    norm = register_module("norm", torch::nn::LayerNorm(norm_options));
    fc_norm = nullptr;
  }
  fc_dropout = register_module("fc_dropout", torch::nn::Dropout(o.head_dropout()));
  head = register_module("head", torch::nn::Linear(o.embed_dim(), o.num_classes()));
  pos_embed_ = PositionTable(NumPatches(o), o.embed_dim());
  reset_parameters();
}

void VisionTransformerImpl::reset_parameters() {
  patch_embed->reset_parameters();
  InitTruncNormalLinearsAndNorms(*this);
  torch::NoGradGuard no_grad;
  head->weight.mul_(options.init_scale());
  head->bias.mul_(options.init_scale());
}

at::Tensor VisionTransformerImpl::forward_features(const at::Tensor& x) {
  at::Tensor tokens = patch_embed(x);  // [B, N, D]
  tokens = tokens + pos_embed_.For(tokens.device(), tokens.scalar_type());
  tokens = pos_drop(tokens);
  tokens = RunBlocks(blocks, tokens, options.activation_checkpointing());
  if (fc_norm) {
    return fc_norm(tokens.mean(1));
  }
  return norm(tokens).select(1, 0);
}

at::Tensor VisionTransformerImpl::forward(const at::Tensor& x) {
  return head(fc_dropout(forward_features(x)));
}

}  // namespace vmae::model
