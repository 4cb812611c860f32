// Weight initialisers matching the authors' (timm / torch.nn.init) code.
#ifndef VMAE_WORKER_MODEL_INIT_H_
#define VMAE_WORKER_MODEL_INIT_H_

#include <torch/nn/module.h>

namespace vmae::model {

// timm's trunc_normal_: a normal(mean, std) draw truncated to [a, b] by
// inverse-CDF sampling (uniform in [2*cdf(a)-1, 2*cdf(b)-1], erfinv, scale,
// shift, clamp). In place, without recording grad. Note that a and b are
// absolute bounds: timm's defaults (-2, 2) leave std 0.02 effectively
// untruncated, while the authors' pre-training wrapper passes (-std, std).
void TruncNormal_(at::Tensor tensor, double mean, double std, double a, double b);

// The pre-training encoder/decoder init (authors' _init_weights applied to
// every submodule of `module`): xavier_uniform_ on every Linear weight (a
// fused qkv [3D, D] as one matrix), zero Linear biases, LayerNorm weight 1
// and bias 0. Other modules (Conv3d) keep their defaults.
void InitXavierLinearsAndNorms(torch::nn::Module& module);

// The fine-tuning init: TruncNormal_(std 0.02, a=-2, b=2) on every Linear
// weight, zero Linear biases, LayerNorm 1/0.
void InitTruncNormalLinearsAndNorms(torch::nn::Module& module);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_INIT_H_
