// y = x W^T + b through ATen's at::linear, for the model's Linear children.
#ifndef VMAE_WORKER_MODEL_FAST_LINEAR_H_
#define VMAE_WORKER_MODEL_FAST_LINEAR_H_

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>

namespace vmae::model {

// LibTorch 1.13's torch::nn::Linear::forward (torch::nn::functional::linear)
// fuses the bias only for 2-D input: a [B, N, D] input runs matmul and then
// a separate `+= bias` pass. ATen's at::linear (what Python's F.linear
// calls) folds a contiguous 3-D input into one addmm. Same math.
inline at::Tensor FastLinear(const torch::nn::Linear& linear, const at::Tensor& x) {
  return at::linear(x, linear->weight, linear->bias);
}

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_FAST_LINEAR_H_
