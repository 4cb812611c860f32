// Tensors exchanged with Python as `.pt` files: inputs written by
// `torch.save(tensor, path)`, outputs that `torch.load(path)` reads.
#ifndef VMAE_WORKER_TOOL_TENSOR_FILE_H_
#define VMAE_WORKER_TOOL_TENSOR_FILE_H_

#include <ATen/core/Tensor.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmae::tool {

// The tensor saved in `path` by Python's torch.save (zip format, read with
// the bounded pickle reader: LibTorch's own loader cannot read Python
// pickles). INVALID_ARGUMENT when the file holds anything but one tensor;
// `what` ("--tensor") prefixes errors.
absl::StatusOr<at::Tensor> ReadTensorFile(const std::string& path, const std::string& what);

// Writes `tensor` (copied to a contiguous CPU tensor) so that Python's
// torch.load returns it; atomically (no half-written file on failure).
absl::Status WriteTensorFile(const std::string& path, const at::Tensor& tensor);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_TENSOR_FILE_H_
