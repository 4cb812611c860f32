// The pictures of `vmae reconstruct --frames-dir`: each frame of a clip as
// the model saw it (original), with the masked patches greyed out (masked),
// and with the masked patches replaced by the model's reconstruction
// (reconstructed), as the authors' run_videomae_vis.py draws them.
#ifndef VMAE_WORKER_TOOL_RECONSTRUCTION_FRAMES_H_
#define VMAE_WORKER_TOOL_RECONSTRUCTION_FRAMES_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace vmae::tool {

struct ReconstructionVideos {
  at::Tensor original;       // [B, T, H, W, 3] uint8
  at::Tensor masked;         // [B, T, H, W, 3] uint8
  at::Tensor reconstructed;  // [B, T, H, W, 3] uint8
};

// `clip` [B, 3, T, H, W] ImageNet-normalised; `mask` [B, N] bool (true =
// hidden, every row the same count); `pred` [B, N_masked, tubelet*p*p*3]
// the model's output for the masked tokens in token order. With
// `normalize_target`, pred is in per-patch normalised units and is mapped
// back with each original patch's mean and std (unbiased, + 1e-6), which
// is the inverse of the training target.
ReconstructionVideos RenderReconstruction(const at::Tensor& clip, const at::Tensor& mask,
                                          const at::Tensor& pred, int64_t tubelet_size,
                                          int64_t patch_size, bool normalize_target);

// `patches` [B, N, tubelet*p*p, C] in PatchifyVideo's order -> [B, C, T, H, W].
at::Tensor UnpatchifyVideo(const at::Tensor& patches, int64_t t, int64_t h, int64_t w,
                           int64_t tubelet_size, int64_t patch_size);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_RECONSTRUCTION_FRAMES_H_
