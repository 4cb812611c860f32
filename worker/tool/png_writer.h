// 8-bit RGB PNG files, through libpng.
#ifndef VMAE_WORKER_TOOL_PNG_WRITER_H_
#define VMAE_WORKER_TOOL_PNG_WRITER_H_

#include <ATen/core/Tensor.h>

#include <string>

#include "absl/status/status.h"

namespace vmae::tool {

// Writes `rgb` ([H, W, 3] uint8, any strides) to `path` atomically.
absl::Status WritePng(const std::string& path, const at::Tensor& rgb);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_PNG_WRITER_H_
