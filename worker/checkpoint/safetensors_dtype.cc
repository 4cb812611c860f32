#include "worker/checkpoint/safetensors_dtype.h"

namespace vmae::checkpoint {

std::optional<std::string> SafetensorsDtype(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Double:
      return "F64";
    case c10::ScalarType::Float:
      return "F32";
    case c10::ScalarType::Half:
      return "F16";
    case c10::ScalarType::BFloat16:
      return "BF16";
    case c10::ScalarType::Long:
      return "I64";
    case c10::ScalarType::Int:
      return "I32";
    default:
      return std::nullopt;
  }
}

}  // namespace vmae::checkpoint
