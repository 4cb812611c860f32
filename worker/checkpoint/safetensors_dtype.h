// The safetensors name of a LibTorch dtype, shared by every writer of
// safetensors files and by the loader's dtype report so that they cannot
// disagree on a name.
#ifndef VMAE_WORKER_CHECKPOINT_SAFETENSORS_DTYPE_H_
#define VMAE_WORKER_CHECKPOINT_SAFETENSORS_DTYPE_H_

#include <c10/core/ScalarType.h>

#include <optional>
#include <string>

namespace vmae::checkpoint {

// "F64", "F32", "F16", "BF16", "I64" or "I32" (at::ScalarType is
// c10::ScalarType); nullopt for any other dtype, which vmae never stores.
// Callers decide what nullopt means: an error when writing, a LibTorch name
// when only reporting. A caller that needs floating point checks
// IsFloatingDtype (common/checkpoint/safetensors.h) on the result.
std::optional<std::string> SafetensorsDtype(c10::ScalarType type);

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_SAFETENSORS_DTYPE_H_
