// Tubelet embedding: Conv3d with kernel = stride = (tubelet, patch, patch).
#ifndef VMAE_WORKER_MODEL_PATCH_EMBED_H_
#define VMAE_WORKER_MODEL_PATCH_EMBED_H_

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "worker/model/options.h"

namespace vmae::model {

struct PatchEmbedOptions {
  explicit PatchEmbedOptions(int64_t embed_dim) : embed_dim_(embed_dim) {}
  /// Output width D. No default.
  TORCH_ARG(int64_t, embed_dim);
  /// Input channels. Default: 3.
  TORCH_ARG(int64_t, in_chans) = 3;
  /// Spatial patch side. Default: 16.
  TORCH_ARG(int64_t, patch_size) = 16;
  /// Frames per token. Default: 2.
  TORCH_ARG(int64_t, tubelet_size) = 2;
  /// Expected input frames T. Default: 16.
  TORCH_ARG(int64_t, num_frames) = 16;
  /// Expected square input side. Default: 224.
  TORCH_ARG(int64_t, image_size) = 224;
};

// The encoder's embedding options from the model options.
PatchEmbedOptions PatchEmbedOptionsFrom(const ModelOptions& o);

// [B, C, T, H, W] -> [B, N, D], tokens in (t, h, w) row-major order.
// Key: proj.weight [D, C, tubelet, p, p], proj.bias [D]. PyTorch's default
// Conv3d init (the authors never re-initialise it).
//
// The convolution has kernel = stride, so each token is one matrix product
// of its flattened (c, t, y, x) tubelet with proj.weight viewed as
// [D, C * tubelet * p * p], plus the bias: that is how it is computed (a
// reshape and one addmm, faster than Conv3d on the CPU; equal up to float
// rounding), and it lets the pre-training encoder embed only its visible
// tokens.
class PatchEmbedImpl : public torch::nn::Cloneable<PatchEmbedImpl> {
 public:
  explicit PatchEmbedImpl(const PatchEmbedOptions& options);
  void reset() override;
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x);
  // Only the tokens where `select` [B, N] bool is true, in increasing token
  // order: [B, K, D] where every row selects the same K (not checked here).
  // Equal to forward(x) followed by the boolean selection.
  at::Tensor forward_selected(const at::Tensor& x, const at::Tensor& select);
  // The tubelets of x flattened as the weight is, [B, N, C * tubelet * p * p].
  at::Tensor Tubelets(const at::Tensor& x) const;

  PatchEmbedOptions options;
  torch::nn::Conv3d proj = nullptr;
};
TORCH_MODULE(PatchEmbed);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_PATCH_EMBED_H_
