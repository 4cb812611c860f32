#include "worker/tool/clip_input.h"

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/tool/tensor_file.h"

namespace vmae::tool {
namespace {

std::string Shape(at::IntArrayRef sizes) { return absl::StrCat("[", absl::StrJoin(sizes, ", "), "]"); }

}  // namespace

absl::StatusOr<at::Tensor> ReadClipTensor(const std::string& path,
                                          const model::ModelOptions& options) {
  at::Tensor clip;
  VMAE_ASSIGN_OR_RETURN(clip, ReadTensorFile(path, "--tensor"));
  if (clip.dim() == 4) clip = clip.unsqueeze(0);
  const std::vector<int64_t> want = {options.in_chans(), options.num_frames(),
                                     options.image_size(), options.image_size()};
  const bool shape_ok = clip.dim() == 5 && clip.size(1) == want[0] && clip.size(2) == want[1] &&
                        clip.size(3) == want[2] && clip.size(4) == want[3] && clip.size(0) > 0;
  if (!shape_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tensor '", path, "' has shape ", Shape(clip.sizes()), "; the model config expects [B, ",
        absl::StrJoin(want, ", "), "] (B, channels, frames, height, width)"));
  }
  if (!clip.is_floating_point()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tensor '", path, "' holds ", c10::toString(clip.scalar_type()),
        " values; expected a float clip normalised with the ImageNet mean and std"));
  }
  return clip.to(torch::kFloat32).contiguous();
}

absl::StatusOr<at::Tensor> ReadMaskTensor(const std::string& path, int64_t batch,
                                          int64_t num_tokens) {
  at::Tensor mask;
  VMAE_ASSIGN_OR_RETURN(mask, ReadTensorFile(path, "--mask"));
  if (mask.dim() == 1) mask = mask.unsqueeze(0).expand({batch, mask.size(0)});
  if (mask.dim() != 2 || mask.size(0) != batch || mask.size(1) != num_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("--mask '", path, "' has shape ",
                                                   Shape(mask.sizes()), "; expected [", batch,
                                                   ", ", num_tokens, "] (clips, tokens)"));
  }
  if (mask.scalar_type() != torch::kBool) {
    if (mask.is_floating_point() || !((mask == 0) | (mask == 1)).all().item<bool>()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mask '", path, "' must be bool (or integers 0/1), true = hidden"));
    }
    mask = mask.to(torch::kBool);
  }
  const at::Tensor counts = mask.sum(1);
  const int64_t first = counts[0].item<int64_t>();
  if (!(counts == first).all().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--mask '", path, "' hides between ", counts.min().item<int64_t>(), " and ",
        counts.max().item<int64_t>(),
        " tokens in different clips; the model needs the same count in every clip"));
  }
  if (first == 0 || first == num_tokens) {
    return absl::InvalidArgumentError(absl::StrCat("--mask '", path, "' hides ", first, " of ",
                                                   num_tokens,
                                                   " tokens; hide at least one and not all"));
  }
  return mask.contiguous();
}

}  // namespace vmae::tool
