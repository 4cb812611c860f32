#include "worker/model/block.h"

#include <torch/torch.h>

#include "worker/model/activation_checkpoint.h"
#include "worker/model/fast_linear.h"

namespace vmae::model {

void DropPathImpl::reset() {
  TORCH_CHECK(p_ >= 0.0 && p_ < 1.0, "DropPath: rate must be in [0, 1), got ", p_);
}

at::Tensor DropPathImpl::forward(const at::Tensor& x) {
  if (p_ == 0.0 || !is_training()) {
    return x;
  }
  const double keep = 1.0 - p_;
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[0] = x.size(0);
  // timm's drop_path: floor(keep + U[0, 1)) is 1 with probability keep.
  at::Tensor random = keep + torch::rand(shape, x.options());
  random.floor_();
  return x.div(keep) * random;
}

MlpImpl::MlpImpl(const MlpOptions& options_) : options(options_) { reset(); }

void MlpImpl::reset() {
  fc1 = register_module("fc1", torch::nn::Linear(options.dim(), options.hidden()));
  fc2 = register_module("fc2", torch::nn::Linear(options.hidden(), options.dim()));
  drop = register_module("drop", torch::nn::Dropout(options.dropout()));
}

void MlpImpl::reset_parameters() {
  fc1->reset_parameters();
  fc2->reset_parameters();
}

at::Tensor MlpImpl::forward(const at::Tensor& x) {
  // nn.GELU() default: the exact erf form, not the tanh approximation.
  return drop(FastLinear(fc2, torch::gelu(FastLinear(fc1, x))));
}

BlockImpl::BlockImpl(const BlockOptions& options_) : options(options_) { reset(); }

void BlockImpl::reset() {
  const int64_t d = options.dim();
  norm1 = register_module(
      "norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kLayerNormEps)));
  attn = register_module("attn", Attention(AttentionOptions(d, options.num_heads())
                                               .attn_dropout(options.attn_dropout())
                                               .proj_dropout(options.proj_dropout())));
  drop_path = register_module("drop_path", DropPath(options.drop_path()));
  norm2 = register_module(
      "norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(kLayerNormEps)));
  mlp = register_module(
      "mlp", Mlp(MlpOptions(d, MlpHidden(d, options.mlp_ratio())).dropout(options.proj_dropout())));
}

void BlockImpl::reset_parameters() {
  norm1->reset_parameters();
  attn->reset_parameters();
  norm2->reset_parameters();
  mlp->reset_parameters();
}

at::Tensor BlockImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.dim(), "Block: expected [B, N, ",
              options.dim(), "], got ", x.sizes());
  at::Tensor h = x + drop_path(attn(norm1(x)));
  return h + drop_path(mlp(norm2(h)));
}

std::vector<double> DropPathRates(double max_rate, int64_t depth) {
  TORCH_CHECK(depth >= 0, "DropPathRates: negative depth ", depth);
  const at::Tensor rates = torch::linspace(0.0, max_rate, depth, torch::kFloat32);
  std::vector<double> out;
  out.reserve(static_cast<size_t>(depth));
  for (int64_t i = 0; i < depth; ++i) {
    out.push_back(static_cast<double>(rates[i].item<float>()));
  }
  return out;
}

int64_t MlpHidden(int64_t dim, double mlp_ratio) {
  return static_cast<int64_t>(static_cast<double>(dim) * mlp_ratio);
}

torch::nn::ModuleList MakeBlocks(int64_t depth, int64_t dim, int64_t num_heads, double mlp_ratio,
                                 double drop_path, double attn_dropout, double proj_dropout) {
  torch::nn::ModuleList blocks;
  for (double rate : DropPathRates(drop_path, depth)) {
    blocks->push_back(Block(BlockOptions(dim, num_heads)
                                .mlp_ratio(mlp_ratio)
                                .drop_path(rate)
                                .attn_dropout(attn_dropout)
                                .proj_dropout(proj_dropout)));
  }
  return blocks;
}

at::Tensor RunBlocks(const torch::nn::ModuleList& blocks, at::Tensor x, bool checkpoint) {
  for (const auto& module : *blocks) {
    auto* block = module->as<BlockImpl>();
    TORCH_CHECK(block != nullptr, "RunBlocks: child is not a Block");
    if (checkpoint) {
      x = CheckpointedForward([block](const at::Tensor& t) { return block->forward(t); }, x);
    } else {
      x = block->forward(x);
    }
  }
  return x;
}

}  // namespace vmae::model
