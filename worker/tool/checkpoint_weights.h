// The model weights of any checkpoint the tool accepts (native directory or
// model.safetensors, Hugging Face directory, the authors' .pth), under the
// authors' parameter names.
#ifndef VMAE_WORKER_TOOL_CHECKPOINT_WEIGHTS_H_
#define VMAE_WORKER_TOOL_CHECKPOINT_WEIGHTS_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace vmae::tool {

struct CheckpointWeights {
  std::map<std::string, at::Tensor> tensors;
  bool pretrain = true;  // a pre-training (encoder + decoder) checkpoint.
  std::string format;    // "native", "hf" or "pth".
};

absl::StatusOr<CheckpointWeights> ReadCheckpointWeights(const std::string& path);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_CHECKPOINT_WEIGHTS_H_
