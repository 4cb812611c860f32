// Reconstruction targets and losses of VideoMAE pre-training.
#ifndef VMAE_WORKER_MODEL_TARGET_H_
#define VMAE_WORKER_MODEL_TARGET_H_

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace vmae::model {

inline constexpr std::array<double, 3> kImageNetMean = {0.485, 0.456, 0.406};
inline constexpr std::array<double, 3> kImageNetStd = {0.229, 0.224, 0.225};

// Added to the unbiased standard deviation (outside the square root) by normalize_target.
inline constexpr double kTargetNormEps = 1e-6;

// videos * std + mean per channel: [B, 3, T, H, W] normalised -> [0, 1].
// The constants are float32 tensors, as in the authors' engine.
at::Tensor UnnormalizeImageNet(const at::Tensor& videos);

// `b c (t p0) (h p1) (w p2) -> b (t h w) (p0 p1 p2) c`: [B, C, T, H, W] ->
// [B, N, tubelet * patch^2, C].
at::Tensor PatchifyVideo(const at::Tensor& videos, int64_t tubelet_size, int64_t patch_size);

// The pre-training target for every token, [B, N, tubelet * patch^2 * C]
// with the channel innermost `(p0 p1 p2 c)`, computed without grad from
// ImageNet-normalised `videos`. With normalize_target each patch and channel
// is standardised over its tubelet * patch^2 pixels:
// (v - mean) / (sqrt(unbiased var) + 1e-6). Without, the raw [0, 1] pixels.
at::Tensor ReconstructionTarget(const at::Tensor& videos, int64_t tubelet_size,
                                int64_t patch_size, bool normalize_target);

// tokens[select].reshape(B, -1, C): the selected tokens of each clip in
// increasing order. Every row of `select` [B, N] bool must pick the same count.
at::Tensor SelectTokens(const at::Tensor& tokens, const at::Tensor& select);

enum class LossKind { kMse, kL1, kSmoothL1 };

// "mse", "l1" or "smooth_l1"; nullopt for anything else.
std::optional<LossKind> ParseLossKind(std::string_view name);

// Mean loss over the selected tokens only: pred [B, K, C] against
// SelectTokens(target [B, N, C], select [B, N]) (the masked tokens for V1,
// DecodedPositions(...) for V2). kSmoothL1 uses beta 1 (nn.SmoothL1Loss).
at::Tensor ReconstructionLoss(const at::Tensor& pred, const at::Tensor& target,
                              const at::Tensor& select, LossKind kind = LossKind::kMse);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_TARGET_H_
