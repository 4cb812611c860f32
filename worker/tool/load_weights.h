// Copies a checkpoint's state dict into a freshly built model, strictly.
#ifndef VMAE_WORKER_TOOL_LOAD_WEIGHTS_H_
#define VMAE_WORKER_TOOL_LOAD_WEIGHTS_H_

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <map>
#include <string>

#include "absl/status/status.h"

namespace vmae::tool {

// Every parameter of `model` must be in `weights` with its shape (dtype is
// converted) and every tensor of `weights` must be a parameter: otherwise
// INVALID_ARGUMENT lists the missing, unexpected and mis-shaped names (a
// few of each) and says to check the model config against `source`.
// Nothing is changed on error.
absl::Status LoadWeightsStrict(torch::nn::Module& model,
                               const std::map<std::string, at::Tensor>& weights,
                               const std::string& source);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_LOAD_WEIGHTS_H_
