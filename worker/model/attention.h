// Multi-head self-attention as in the authors' VideoMAE code.
#ifndef VMAE_WORKER_MODEL_ATTENTION_H_
#define VMAE_WORKER_MODEL_ATTENTION_H_

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace vmae::model {

// The one attention kernel of the model, swappable in one place.
// q, k, v: [B, heads, N, head_dim] -> [B, heads, N, head_dim].
// softmax(q * head_dim^-0.5 @ k^T) with dropout p on the probabilities when
// `training`, times v. On LibTorch >= 2.0 this is the fused
// at::scaled_dot_product_attention; on 1.13 the explicit formula with the
// authors' order of operations (q is scaled before the product).
at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v, double dropout_p, bool training);

struct AttentionOptions {
  AttentionOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  /// Token width D (input and output). No default.
  TORCH_ARG(int64_t, dim);
  /// Heads; head_dim = dim / num_heads. No default.
  TORCH_ARG(int64_t, num_heads);
  /// Dropout on the attention probabilities. Default: 0.
  TORCH_ARG(double, attn_dropout) = 0.0;
  /// Dropout after `proj`. Default: 0.
  TORCH_ARG(double, proj_dropout) = 0.0;
};

// qkv Linear [3D, D] without bias plus learned q_bias and v_bias: the
// effective bias is cat(q_bias, 0, v_bias) (the key bias is always zero).
// State-dict keys: qkv.weight, q_bias, v_bias, proj.weight, proj.bias.
// Not thread-safe (like every torch::nn::Module).
class AttentionImpl : public torch::nn::Cloneable<AttentionImpl> {
 public:
  explicit AttentionImpl(const AttentionOptions& options);
  void reset() override;
  // qkv and proj: PyTorch's default Linear init; q_bias and v_bias zeros.
  void reset_parameters();
  // x: [B, N, D] -> [B, N, D].
  at::Tensor forward(const at::Tensor& x);

  AttentionOptions options;
  torch::nn::Linear qkv = nullptr;
  at::Tensor q_bias;
  at::Tensor v_bias;
  torch::nn::Linear proj = nullptr;
  torch::nn::Dropout proj_drop = nullptr;
};
TORCH_MODULE(Attention);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_ATTENTION_H_
