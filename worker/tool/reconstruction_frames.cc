#include "worker/tool/reconstruction_frames.h"

#include <torch/torch.h>

#include "worker/model/target.h"

namespace vmae::tool {
namespace {

// [B, 3, T, H, W] float in [0, 1] -> [B, T, H, W, 3] uint8.
at::Tensor ToBytes(const at::Tensor& pixels) {
  return (pixels.clamp(0.0, 1.0) * 255.0)
      .round()
      .to(torch::kUInt8)
      .permute({0, 2, 3, 4, 1})
      .contiguous();
}

}  // namespace

at::Tensor UnpatchifyVideo(const at::Tensor& patches, int64_t t, int64_t h, int64_t w,
                           int64_t tubelet_size, int64_t patch_size) {
  const int64_t b = patches.size(0);
  const int64_t c = patches.size(3);
  const int64_t p0 = tubelet_size;
  const int64_t p = patch_size;
  // Inverse of PatchifyVideo's b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c.
  return patches.reshape({b, t / p0, h / p, w / p, p0, p, p, c})
      .permute({0, 7, 1, 4, 2, 5, 3, 6})  // b c t p0 h p1 w p2
      .reshape({b, c, t, h, w});
}

ReconstructionVideos RenderReconstruction(const at::Tensor& clip, const at::Tensor& mask,
                                          const at::Tensor& pred, int64_t tubelet_size,
                                          int64_t patch_size, bool normalize_target) {
  torch::NoGradGuard no_grad;
  const int64_t b = clip.size(0);
  const int64_t t = clip.size(2);
  const int64_t h = clip.size(3);
  const int64_t w = clip.size(4);
  const at::Tensor pixels = model::UnnormalizeImageNet(clip.to(torch::kFloat32));
  const at::Tensor patches = model::PatchifyVideo(pixels, tubelet_size, patch_size);  // [B,N,P,C]
  const int64_t n = patches.size(1);
  const at::Tensor sel = mask.to(torch::kBool).view({b, n, 1, 1}).expand_as(patches);

  // Masked view: hidden patches mid-grey.
  const at::Tensor grey = torch::full_like(patches, 0.5);
  const at::Tensor masked = torch::where(sel, grey, patches);

  // Reconstruction: the masked patches from the prediction.
  at::Tensor predicted =
      pred.to(torch::kFloat32).reshape({b, -1, patches.size(2), patches.size(3)});
  at::Tensor rebuilt = patches.clone();
  const at::Tensor flat_mask = mask.to(torch::kBool);
  if (normalize_target) {
    const at::Tensor mean = patches.mean(-2, /*keepdim=*/true);
    const at::Tensor std = patches.var(-2, /*unbiased=*/true, /*keepdim=*/true).sqrt();
    const at::Tensor mean_m = mean.index({flat_mask}).reshape({b, -1, 1, patches.size(3)});
    const at::Tensor std_m = std.index({flat_mask}).reshape({b, -1, 1, patches.size(3)});
    predicted = predicted * (std_m + model::kTargetNormEps) + mean_m;
  }
  rebuilt.index_put_({flat_mask}, predicted.reshape({-1, patches.size(2), patches.size(3)}));

  ReconstructionVideos out;
  out.original = ToBytes(pixels);
  out.masked = ToBytes(UnpatchifyVideo(masked, t, h, w, tubelet_size, patch_size));
  out.reconstructed = ToBytes(UnpatchifyVideo(rebuilt, t, h, w, tubelet_size, patch_size));
  return out;
}

}  // namespace vmae::tool
