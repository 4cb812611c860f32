#include "worker/model/target.h"

#include <torch/torch.h>

namespace vmae::model {

at::Tensor UnnormalizeImageNet(const at::Tensor& videos) {
  TORCH_CHECK(videos.dim() == 5 && videos.size(1) == 3,
              "UnnormalizeImageNet: expected [B, 3, T, H, W], got ", videos.sizes());
  const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(videos.device());
  const at::Tensor mean =
      torch::tensor({kImageNetMean[0], kImageNetMean[1], kImageNetMean[2]}, opts)
          .view({1, 3, 1, 1, 1});
  const at::Tensor std =
      torch::tensor({kImageNetStd[0], kImageNetStd[1], kImageNetStd[2]}, opts)
          .view({1, 3, 1, 1, 1});
  return videos * std + mean;
}

at::Tensor PatchifyVideo(const at::Tensor& videos, int64_t tubelet_size, int64_t patch_size) {
  TORCH_CHECK(videos.dim() == 5, "PatchifyVideo: expected [B, C, T, H, W], got ",
              videos.sizes());
  const int64_t b = videos.size(0);
  const int64_t c = videos.size(1);
  const int64_t t = videos.size(2);
  const int64_t h = videos.size(3);
  const int64_t w = videos.size(4);
  const int64_t p0 = tubelet_size;
  const int64_t p = patch_size;
  TORCH_CHECK(p0 > 0 && p > 0 && t % p0 == 0 && h % p == 0 && w % p == 0,
              "PatchifyVideo: ", videos.sizes(), " does not split into tubelets of ", p0, "x",
              p, "x", p);
  return videos.reshape({b, c, t / p0, p0, h / p, p, w / p, p})
      .permute({0, 2, 4, 6, 3, 5, 7, 1})  // b t h w p0 p1 p2 c
      .reshape({b, (t / p0) * (h / p) * (w / p), p0 * p * p, c});
}

at::Tensor ReconstructionTarget(const at::Tensor& videos, int64_t tubelet_size,
                                int64_t patch_size, bool normalize_target) {
  torch::NoGradGuard no_grad;
  const at::Tensor patches = PatchifyVideo(UnnormalizeImageNet(videos), tubelet_size, patch_size);
  const int64_t b = patches.size(0);
  const int64_t n = patches.size(1);
  if (!normalize_target) {
    return patches.reshape({b, n, -1});
  }
  // One pass for both moments; in-place arithmetic on temporaries (no grad).
  auto [var, mean] = torch::var_mean(patches, {-2}, /*unbiased=*/true, /*keepdim=*/true);
  at::Tensor out = patches - mean;
  out.div_(var.sqrt_().add_(kTargetNormEps));
  return out.reshape({b, n, -1});
}

at::Tensor SelectTokens(const at::Tensor& tokens, const at::Tensor& select) {
  TORCH_CHECK(tokens.dim() == 3, "SelectTokens: tokens must be [B, N, C], got ", tokens.sizes());
  TORCH_CHECK(select.defined() && select.dim() == 2 && select.scalar_type() == torch::kBool &&
                  select.size(0) == tokens.size(0) && select.size(1) == tokens.size(1),
              "SelectTokens: select must be a bool [", tokens.size(0), ", ", tokens.size(1),
              "] tensor, got ", select.defined() ? select.sizes() : at::IntArrayRef{});
  const at::Tensor sel = select.to(tokens.device());
  const at::Tensor counts = sel.sum(1);
  TORCH_CHECK((counts == counts[0]).all().item<bool>(),
              "SelectTokens: every clip must select the same number of tokens");
  return tokens.index({sel}).reshape({tokens.size(0), -1, tokens.size(2)});
}

std::optional<LossKind> ParseLossKind(std::string_view name) {
  if (name == "mse") {
    return LossKind::kMse;
  }
  if (name == "l1") {
    return LossKind::kL1;
  }
  if (name == "smooth_l1") {
    return LossKind::kSmoothL1;
  }
  return std::nullopt;
}

at::Tensor ReconstructionLoss(const at::Tensor& pred, const at::Tensor& target,
                              const at::Tensor& select, LossKind kind) {
  const at::Tensor labels = SelectTokens(target, select);
  TORCH_CHECK(pred.sizes() == labels.sizes(), "ReconstructionLoss: prediction ", pred.sizes(),
              " does not match the selected target ", labels.sizes());
  const at::Tensor y = labels.to(pred.scalar_type());
  switch (kind) {
    case LossKind::kMse:
      return torch::mse_loss(pred, y);
    case LossKind::kL1:
      return torch::l1_loss(pred, y);
    case LossKind::kSmoothL1:
      return torch::smooth_l1_loss(pred, y, at::Reduction::Mean, /*beta=*/1.0);
  }
  TORCH_CHECK(false, "ReconstructionLoss: unknown loss kind");
  return at::Tensor();
}

}  // namespace vmae::model
