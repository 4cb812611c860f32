#include "worker/tool/tensor_file.h"

#include <torch/serialize.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/atomic_file.h"
#include "common/status_macros.h"
#include "worker/checkpoint/pth_import.h"

namespace vmae::tool {

absl::StatusOr<at::Tensor> ReadTensorFile(const std::string& path, const std::string& what) {
  absl::StatusOr<checkpoint::PickleValue> root = checkpoint::LoadPth(path);
  if (!root.ok()) {
    return absl::Status(root.status().code(),
                        absl::StrCat(what, ": ", root.status().message(),
                                     " (expected a file written by torch.save(tensor, path))"));
  }
  if (!root->is_tensor()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", path, "' holds a ", root->TypeName(),
                     ", not a tensor; save the tensor itself: torch.save(tensor, path)"));
  }
  return root->as_tensor();
}

absl::Status WriteTensorFile(const std::string& path, const at::Tensor& tensor) {
  std::vector<char> bytes;
  try {
    // pickle_save writes the zip container torch.load understands.
    bytes = torch::pickle_save(tensor.detach().cpu().contiguous());
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("cannot serialise the output for '", path, "': ", e.what_without_backtrace()));
  }
  return checkpoint::WriteFileAtomically(path, absl::string_view(bytes.data(), bytes.size()));
}

}  // namespace vmae::tool
