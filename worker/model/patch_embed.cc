#include "worker/model/patch_embed.h"

#include <torch/torch.h>

namespace vmae::model {

PatchEmbedOptions PatchEmbedOptionsFrom(const ModelOptions& o) {
  return PatchEmbedOptions(o.embed_dim())
      .in_chans(o.in_chans())
      .patch_size(o.patch_size())
      .tubelet_size(o.tubelet_size())
      .num_frames(o.num_frames())
      .image_size(o.image_size());
}

PatchEmbedImpl::PatchEmbedImpl(const PatchEmbedOptions& options_) : options(options_) { reset(); }

void PatchEmbedImpl::reset() {
  const int64_t t = options.tubelet_size();
  const int64_t p = options.patch_size();
  TORCH_CHECK(t > 0 && p > 0 && options.num_frames() % t == 0 && options.image_size() % p == 0,
              "PatchEmbed: num_frames (", options.num_frames(), ") must be a multiple of ",
              "tubelet_size (", t, ") and image_size (", options.image_size(),
              ") a multiple of patch_size (", p, ")");
  proj = register_module(
      "proj", torch::nn::Conv3d(torch::nn::Conv3dOptions(options.in_chans(), options.embed_dim(),
                                                         {t, p, p})
                                    .stride({t, p, p})
                                    .bias(true)));
}

void PatchEmbedImpl::reset_parameters() { proj->reset_parameters(); }

at::Tensor PatchEmbedImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 5 && x.size(1) == options.in_chans() &&
                  x.size(2) == options.num_frames() && x.size(3) == options.image_size() &&
                  x.size(4) == options.image_size(),
              "PatchEmbed: expected [B, ", options.in_chans(), ", ", options.num_frames(), ", ",
              options.image_size(), ", ", options.image_size(), "], got ", x.sizes());
  return proj(x).flatten(2).transpose(1, 2);
}

}  // namespace vmae::model
