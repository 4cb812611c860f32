#include "worker/model/target.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "tests/worker/model/test_util.h"

namespace vmae::model {
namespace {

using ::vmae::model::testing::MaxAbsDiff;

// Target of token (t, h, w) computed pixel by pixel: un-normalise, gather
// the tubelet's pixels of each channel, standardise them (unbiased std, eps
// outside the root) and lay them out as (p0 p1 p2 c).
torch::Tensor LoopTarget(const torch::Tensor& videos, int64_t t0, int64_t p, bool normalize) {
  const double mean_rgb[3] = {0.485, 0.456, 0.406};
  const double std_rgb[3] = {0.229, 0.224, 0.225};
  const int64_t b_n = videos.size(0);
  const int64_t c_n = videos.size(1);
  const int64_t gt = videos.size(2) / t0;
  const int64_t gh = videos.size(3) / p;
  const int64_t gw = videos.size(4) / p;
  const int64_t pix = t0 * p * p;
  auto v = videos.accessor<float, 5>();
  torch::Tensor out = torch::zeros({b_n, gt * gh * gw, pix * c_n}, torch::kFloat64);
  auto o = out.accessor<double, 3>();
  for (int64_t b = 0; b < b_n; ++b) {
    for (int64_t tt = 0; tt < gt; ++tt) {
      for (int64_t hh = 0; hh < gh; ++hh) {
        for (int64_t ww = 0; ww < gw; ++ww) {
          const int64_t token = (tt * gh + hh) * gw + ww;
          for (int64_t c = 0; c < c_n; ++c) {
            std::vector<double> vals;
            for (int64_t a = 0; a < t0; ++a) {
              for (int64_t y = 0; y < p; ++y) {
                for (int64_t x = 0; x < p; ++x) {
                  const double raw = v[b][c][tt * t0 + a][hh * p + y][ww * p + x];
                  vals.push_back(raw * std_rgb[c] + mean_rgb[c]);
                }
              }
            }
            double mean = 0.0;
            for (double x : vals) {
              mean += x;
            }
            mean /= static_cast<double>(pix);
            double var = 0.0;
            for (double x : vals) {
              var += (x - mean) * (x - mean);
            }
            var /= static_cast<double>(pix - 1);
            for (int64_t i = 0; i < pix; ++i) {
              o[b][token][i * c_n + c] =
                  normalize ? (vals[i] - mean) / (std::sqrt(var) + 1e-6) : vals[i];
            }
          }
        }
      }
    }
  }
  return out;
}

TEST(TargetTest, NormalizedTargetMatchesPixelLoop) {
  torch::manual_seed(11);
  const torch::Tensor videos = torch::randn({2, 3, 4, 16, 24});
  const torch::Tensor target = ReconstructionTarget(videos, 2, 8, /*normalize_target=*/true);
  ASSERT_EQ(target.sizes(), torch::IntArrayRef({2, 2 * 2 * 3, 2 * 8 * 8 * 3}));
  EXPECT_LT(MaxAbsDiff(target, LoopTarget(videos, 2, 8, true)), 2e-5);
}

TEST(TargetTest, RawTargetMatchesPixelLoop) {
  torch::manual_seed(12);
  const torch::Tensor videos = torch::randn({1, 3, 4, 16, 16});
  const torch::Tensor target = ReconstructionTarget(videos, 2, 8, /*normalize_target=*/false);
  EXPECT_LT(MaxAbsDiff(target, LoopTarget(videos, 2, 8, false)), 1e-6);
}

TEST(TargetTest, VitBaseTargetHas1536ValuesPerToken) {
  const torch::Tensor videos = torch::zeros({1, 3, 16, 224, 224});
  const torch::Tensor target = ReconstructionTarget(videos, 2, 16, true);
  EXPECT_EQ(target.sizes(), torch::IntArrayRef({1, 1568, 1536}));
  EXPECT_FALSE(target.requires_grad());
}

TEST(TargetTest, LossUsesOnlySelectedTokens) {
  torch::manual_seed(13);
  const torch::Tensor target = torch::randn({2, 6, 4});
  const torch::Tensor select =
      torch::tensor({0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1}, torch::kBool).view({2, 6});
  const torch::Tensor pred = torch::randn({2, 3, 4});
  // The selected rows in order: clip 0 tokens 1, 3, 4; clip 1 tokens 0, 3, 5.
  const torch::Tensor labels = torch::stack(
      {torch::stack({target[0][1], target[0][3], target[0][4]}),
       torch::stack({target[1][0], target[1][3], target[1][5]})});
  EXPECT_TRUE(torch::equal(SelectTokens(target, select), labels));
  const torch::Tensor diff = pred - labels;
  EXPECT_NEAR(ReconstructionLoss(pred, target, select, LossKind::kMse).item<double>(),
              diff.pow(2).mean().item<double>(), 1e-6);
  EXPECT_NEAR(ReconstructionLoss(pred, target, select, LossKind::kL1).item<double>(),
              diff.abs().mean().item<double>(), 1e-6);
  const torch::Tensor a = diff.abs();
  const torch::Tensor smooth = torch::where(a < 1.0, 0.5 * a * a, a - 0.5).mean();
  EXPECT_NEAR(ReconstructionLoss(pred, target, select, LossKind::kSmoothL1).item<double>(),
              smooth.item<double>(), 1e-6);
  // Changing an unselected target token changes nothing.
  torch::Tensor other = target.clone();
  other[0][0].fill_(100.0);
  EXPECT_NEAR(ReconstructionLoss(pred, other, select).item<double>(),
              diff.pow(2).mean().item<double>(), 1e-6);
}

TEST(TargetTest, ParseLossKindAndShapeChecks) {
  EXPECT_EQ(ParseLossKind("mse"), LossKind::kMse);
  EXPECT_EQ(ParseLossKind("l1"), LossKind::kL1);
  EXPECT_EQ(ParseLossKind("smooth_l1"), LossKind::kSmoothL1);
  EXPECT_FALSE(ParseLossKind("l2").has_value());
  const torch::Tensor target = torch::zeros({2, 4, 3});
  const torch::Tensor uneven = torch::tensor({1, 1, 0, 0, 1, 0, 0, 0}, torch::kBool).view({2, 4});
  EXPECT_THROW(SelectTokens(target, uneven), c10::Error);
  const torch::Tensor even = torch::tensor({1, 1, 0, 0, 1, 0, 1, 0}, torch::kBool).view({2, 4});
  EXPECT_THROW(ReconstructionLoss(torch::zeros({2, 3, 3}), target, even), c10::Error);
}

}  // namespace
}  // namespace vmae::model
