// The pre-norm transformer block shared by encoder, decoder and classifier.
#ifndef VMAE_WORKER_MODEL_BLOCK_H_
#define VMAE_WORKER_MODEL_BLOCK_H_

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "worker/model/attention.h"

namespace vmae::model {

// Every LayerNorm of the model uses this epsilon (authors' partial(nn.LayerNorm, eps=1e-6)).
inline constexpr double kLayerNormEps = 1e-6;

// Stochastic depth: in training, zeroes the whole residual branch of each
// sample with probability p and scales survivors by 1 / (1 - p); identity in
// eval or when p == 0. No parameters.
class DropPathImpl : public torch::nn::Cloneable<DropPathImpl> {
 public:
  explicit DropPathImpl(double p = 0.0) : p_(p) { reset(); }
  void reset() override;
  at::Tensor forward(const at::Tensor& x);
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(DropPath);

struct MlpOptions {
  MlpOptions(int64_t dim, int64_t hidden) : dim_(dim), hidden_(hidden) {}
  /// Input and output width. No default.
  TORCH_ARG(int64_t, dim);
  /// Hidden width (fc1 output). No default.
  TORCH_ARG(int64_t, hidden);
  /// Dropout after fc2 (not after the activation). Default: 0.
  TORCH_ARG(double, dropout) = 0.0;
};

// fc1 -> exact (erf) GELU -> fc2 -> dropout. Keys: fc1.*, fc2.*.
class MlpImpl : public torch::nn::Cloneable<MlpImpl> {
 public:
  explicit MlpImpl(const MlpOptions& options);
  void reset() override;
  void reset_parameters();
  at::Tensor forward(const at::Tensor& x);

  MlpOptions options;
  torch::nn::Linear fc1 = nullptr;
  torch::nn::Linear fc2 = nullptr;
  torch::nn::Dropout drop = nullptr;
};
TORCH_MODULE(Mlp);

struct BlockOptions {
  BlockOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  /// Token width D. No default.
  TORCH_ARG(int64_t, dim);
  /// Attention heads. No default.
  TORCH_ARG(int64_t, num_heads);
  /// MLP hidden width = int(dim * mlp_ratio). Default: 4.
  TORCH_ARG(double, mlp_ratio) = 4.0;
  /// Stochastic-depth rate of this block. Default: 0.
  TORCH_ARG(double, drop_path) = 0.0;
  /// Dropout on attention probabilities. Default: 0.
  TORCH_ARG(double, attn_dropout) = 0.0;
  /// Dropout after attn.proj and after mlp.fc2. Default: 0.
  TORCH_ARG(double, proj_dropout) = 0.0;
};

// x = x + drop_path(attn(norm1(x))); x = x + drop_path(mlp(norm2(x))).
// Keys: norm1.*, attn.{q_bias,v_bias,qkv.weight,proj.*}, norm2.*, mlp.fc{1,2}.*.
class BlockImpl : public torch::nn::Cloneable<BlockImpl> {
 public:
  explicit BlockImpl(const BlockOptions& options);
  void reset() override;
  // PyTorch defaults for every child (the models re-initialise afterwards).
  void reset_parameters();
  // x: [B, N, D] -> [B, N, D].
  at::Tensor forward(const at::Tensor& x);

  BlockOptions options;
  torch::nn::LayerNorm norm1 = nullptr;
  Attention attn = nullptr;
  DropPath drop_path = nullptr;
  torch::nn::LayerNorm norm2 = nullptr;
  Mlp mlp = nullptr;
};
TORCH_MODULE(Block);

// The authors' stochastic-depth rule: [x.item() for x in torch.linspace(0,
// max_rate, depth)] (float32 linspace, widened to double).
std::vector<double> DropPathRates(double max_rate, int64_t depth);

// int(dim * mlp_ratio) as Python computes it.
int64_t MlpHidden(int64_t dim, double mlp_ratio);

// A ModuleList of `depth` blocks of width `dim`, drop-path rising linearly.
torch::nn::ModuleList MakeBlocks(int64_t depth, int64_t dim, int64_t num_heads, double mlp_ratio,
                                 double drop_path, double attn_dropout, double proj_dropout);

// Runs the blocks of `blocks` in order; with `checkpoint`, each block is
// recomputed in backward instead of storing its activations.
at::Tensor RunBlocks(const torch::nn::ModuleList& blocks, at::Tensor x, bool checkpoint);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_BLOCK_H_
