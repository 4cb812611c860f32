// Parameter counting and key listing for the models.
#ifndef VMAE_WORKER_MODEL_PARAM_COUNT_H_
#define VMAE_WORKER_MODEL_PARAM_COUNT_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vmae::model {

// Total number of parameter elements (only those requiring grad if
// `trainable_only`). Sinusoid tables are not parameters and never count.
int64_t CountParameters(const torch::nn::Module& module, bool trainable_only = false);

// Names of every parameter and buffer, i.e. the module's state-dict keys,
// in registration order (the models have no buffers).
std::vector<std::string> StateDictKeys(const torch::nn::Module& module);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_PARAM_COUNT_H_
