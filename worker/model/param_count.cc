#include "worker/model/param_count.h"

#include <torch/torch.h>

namespace vmae::model {

int64_t CountParameters(const torch::nn::Module& module, bool trainable_only) {
  int64_t total = 0;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    if (!trainable_only || p.requires_grad()) {
      total += p.numel();
    }
  }
  return total;
}

std::vector<std::string> StateDictKeys(const torch::nn::Module& module) {
  std::vector<std::string> keys;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    keys.push_back(item.key());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    keys.push_back(item.key());
  }
  return keys;
}

}  // namespace vmae::model
