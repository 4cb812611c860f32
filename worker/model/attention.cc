#include "worker/model/attention.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <vector>

#include "worker/model/chunked_attention.h"
#include "worker/model/fast_linear.h"

namespace vmae::model {

at::Tensor ScaledDotProductAttention(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v, double dropout_p, bool training) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "ScaledDotProductAttention: q, k, v must be [B, heads, N, head_dim], got ",
              q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  TORCH_CHECK(q.size(-1) == k.size(-1) && k.sizes() == v.sizes(),
              "ScaledDotProductAttention: shape mismatch q ", q.sizes(), " k ", k.sizes(), " v ",
              v.sizes());
  const double p = training ? dropout_p : 0.0;
#if TORCH_VERSION_MAJOR >= 2
  // Same math; the fused kernel scales q and k by sqrt(scale) each, which
  // moves results by float rounding only.
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, p, /*is_causal=*/false);
#else
  // The authors' softmax(q * scale @ k^T) @ v in their order (q is scaled:
  // N x head_dim values, not the N x N scores), as two bmm over
  // [B * heads, N, head_dim] batches; contiguous q, k, v are only viewed.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const int64_t b = q.size(0);
  const int64_t heads = q.size(1);
  const int64_t n = q.size(2);
  const at::Tensor q3 = q.reshape({b * heads, n, q.size(3)});
  const at::Tensor k3 = k.reshape({b * heads, k.size(2), k.size(3)});
  const at::Tensor v3 = v.reshape({b * heads, v.size(2), v.size(3)});
  const int64_t rows_per_block = AttentionRowsPerBlock(k.size(2));
  if (p == 0.0 && q.device().is_cpu() && n > rows_per_block) {
    // Long sequences on the CPU: the scores never leave the cache.
    return ChunkedAttention(q3, k3, v3, scale, rows_per_block).view({b, heads, n, v.size(3)});
  }
  at::Tensor attn = at::bmm(q3 * scale, k3.transpose(1, 2)).softmax(-1);
  if (p > 0.0) {
    attn = torch::dropout(attn, p, /*train=*/true);
  }
  return at::bmm(attn, v3).view({b, heads, n, v.size(3)});
#endif
}

AttentionImpl::AttentionImpl(const AttentionOptions& options_) : options(options_) { reset(); }

void AttentionImpl::reset() {
  TORCH_CHECK(options.dim() > 0 && options.num_heads() > 0 &&
                  options.dim() % options.num_heads() == 0,
              "Attention: dim must be a positive multiple of num_heads, got dim=", options.dim(),
              " num_heads=", options.num_heads());
  const int64_t d = options.dim();
  // Parameters registered on this module come first in the authors'
  // state dict (q_bias, v_bias), then the children.
  q_bias = register_parameter("q_bias", torch::zeros({d}));
  v_bias = register_parameter("v_bias", torch::zeros({d}));
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(d, 3 * d).bias(false)));
  proj = register_module("proj", torch::nn::Linear(d, d));
  proj_drop = register_module("proj_drop", torch::nn::Dropout(options.proj_dropout()));
  reset_parameters();
}

void AttentionImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  qkv->reset_parameters();
  proj->reset_parameters();
  q_bias.zero_();
  v_bias.zero_();
}

at::Tensor AttentionImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.dim(), "Attention: expected [B, N, ",
              options.dim(), "], got ", x.sizes());
  const int64_t b = x.size(0);
  const int64_t n = x.size(1);
  const int64_t heads = options.num_heads();
  // torch.zeros_like(v_bias, requires_grad=False) in the authors' code.
  const at::Tensor bias = torch::cat({q_bias, torch::zeros_like(v_bias), v_bias});
  at::Tensor qkv_out = at::linear(x, qkv->weight, bias);
  // [B, N, 3, heads, hd] -> [3, B, heads, N, hd], made contiguous once, so q,
  // k and v are contiguous views (one copy instead of one per operand; and
  // unbind's backward is one stack, where indexing would zero-fill and copy
  // a full-size gradient three times).
  const std::vector<at::Tensor> qkv_parts =
      qkv_out.reshape({b, n, 3, heads, -1}).permute({2, 0, 3, 1, 4}).contiguous().unbind(0);
  at::Tensor out = ScaledDotProductAttention(qkv_parts[0], qkv_parts[1], qkv_parts[2],
                                             options.attn_dropout(), is_training());
  out = out.transpose(1, 2).reshape({b, n, -1});
  return proj_drop(FastLinear(proj, out));
}

}  // namespace vmae::model
