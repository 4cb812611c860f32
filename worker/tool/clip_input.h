// The clip and mask inputs of `vmae reconstruct` / `vmae predict`, read from
// `.pt` files and checked against the model they are fed to.
#ifndef VMAE_WORKER_TOOL_CLIP_INPUT_H_
#define VMAE_WORKER_TOOL_CLIP_INPUT_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/model/options.h"

namespace vmae::tool {

// A float [B, 3, T, H, W] (or [3, T, H, W], taken as B = 1) clip whose
// sizes match `options` (in_chans, num_frames, image_size); returned as
// contiguous float32. INVALID_ARGUMENT names the expected and actual shape.
absl::StatusOr<at::Tensor> ReadClipTensor(const std::string& path,
                                          const model::ModelOptions& options);

// A bool (or 0/1 integer) [B, N] mask, or [N] applied to every clip, true =
// hidden from the encoder; every clip must hide the same number of tokens,
// at least one and not all.
absl::StatusOr<at::Tensor> ReadMaskTensor(const std::string& path, int64_t batch,
                                          int64_t num_tokens);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_CLIP_INPUT_H_
