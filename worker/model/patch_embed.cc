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

at::Tensor PatchEmbedImpl::Tubelets(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() == 5 && x.size(1) == options.in_chans() &&
                  x.size(2) == options.num_frames() && x.size(3) == options.image_size() &&
                  x.size(4) == options.image_size(),
              "PatchEmbed: expected [B, ", options.in_chans(), ", ", options.num_frames(), ", ",
              options.image_size(), ", ", options.image_size(), "], got ", x.sizes());
  const int64_t b = x.size(0);
  const int64_t c = x.size(1);
  const int64_t t0 = options.tubelet_size();
  const int64_t p = options.patch_size();
  const int64_t gt = x.size(2) / t0;
  const int64_t gh = x.size(3) / p;
  const int64_t gw = x.size(4) / p;
  // b c (gt t0) (gh p) (gw p) -> b (gt gh gw) (c t0 p p): the Conv3d's
  // receptive fields in the weight's (c, kt, ky, kx) order.
  return x.reshape({b, c, gt, t0, gh, p, gw, p})
      .permute({0, 2, 4, 6, 1, 3, 5, 7})
      .reshape({b, gt * gh * gw, c * t0 * p * p});
}

namespace {

// tubelets [M, K] x weight [D, K]^T + bias -> [M, D].
at::Tensor Project(const at::Tensor& tubelets, const torch::nn::Conv3d& proj) {
  const at::Tensor w = proj->weight.reshape({proj->weight.size(0), -1});
  return torch::addmm(proj->bias, tubelets, w.t());
}

}  // namespace

at::Tensor PatchEmbedImpl::forward(const at::Tensor& x) {
  const at::Tensor tubelets = Tubelets(x);
  const int64_t b = tubelets.size(0);
  const int64_t n = tubelets.size(1);
  return Project(tubelets.reshape({b * n, -1}), proj).reshape({b, n, -1});
}

at::Tensor PatchEmbedImpl::forward_selected(const at::Tensor& x, const at::Tensor& select) {
  const at::Tensor tubelets = Tubelets(x);
  const int64_t b = tubelets.size(0);
  TORCH_CHECK(select.dim() == 2 && select.size(0) == b && select.size(1) == tubelets.size(1) &&
                  select.scalar_type() == torch::kBool,
              "PatchEmbed: select must be a bool [", b, ", ", tubelets.size(1), "] mask, got ",
              select.sizes());
  const at::Tensor rows = tubelets.index({select.to(tubelets.device())});
  return Project(rows, proj).reshape({b, -1, proj->weight.size(0)});
}

}  // namespace vmae::model
