#include "worker/train/mixup.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/train/test_util.h"

namespace vmae::train {
namespace {

using ::vmae::train::testing::StatusIs;

class MixupTest : public ::vmae::train::testing::SingleThreadTest {};

// [B, C, T, H, W] with every element distinct: value = linear index.
torch::Tensor DistinctClips(int64_t b, int64_t c, int64_t t, int64_t h, int64_t w) {
  return torch::arange(b * c * t * h * w, torch::kFloat).reshape({b, c, t, h, w});
}

MixupOptions RecipeOptions(int64_t num_classes) {
  MixupOptions options;  // the defaults are the authors' recipe
  options.num_classes = num_classes;
  return options;
}

// Mean and (population) variance of lam over `steps` draws.
struct Moments {
  double mean = 0.0;
  double variance = 0.0;
};
Moments LamMoments(const Mixup& mixup, int steps) {
  double sum = 0.0;
  double sum_sq = 0.0;
  for (int step = 0; step < steps; ++step) {
    const double lam = mixup.Draw(224, 224, /*seed=*/7, step).lam;
    sum += lam;
    sum_sq += lam * lam;
  }
  Moments m;
  m.mean = sum / steps;
  m.variance = sum_sq / steps - m.mean * m.mean;
  return m;
}

TEST_F(MixupTest, RandBboxByHand) {
  // H 10, W 8, lam 0.64: cut_rat = sqrt(0.36) = 0.6, cut_h = int(6.0) = 6,
  // cut_w = int(4.8) = 4. Centre (5, 4): rows 5 -+ 3, cols 4 -+ 2.
  CutmixBox box = RandBbox(10, 8, 0.64, 5, 4);
  EXPECT_EQ(box.y1, 2);
  EXPECT_EQ(box.y2, 8);
  EXPECT_EQ(box.x1, 2);
  EXPECT_EQ(box.x2, 6);
  EXPECT_EQ(box.Area(), 24);
  // Corrected lam: 1 - 24 / 80.
  EXPECT_DOUBLE_EQ(CutmixLam(box, 10, 8), 0.7);

  // Centre in the corner (0, 7): rows [-3, 3) and cols [5, 9) are clipped to
  // [0, 3) and [5, 8): a 3 x 3 box, lam 1 - 9 / 80.
  box = RandBbox(10, 8, 0.64, 0, 7);
  EXPECT_EQ(box.y1, 0);
  EXPECT_EQ(box.y2, 3);
  EXPECT_EQ(box.x1, 5);
  EXPECT_EQ(box.x2, 8);
  EXPECT_DOUBLE_EQ(CutmixLam(box, 10, 8), 1.0 - 9.0 / 80.0);
}

TEST_F(MixupTest, RandBboxLosesAPixelOfAnOddCut) {
  // 7 x 7, lam 0.75: cut_rat 0.5, cut = int(3.5) = 3, cut // 2 = 1, so the
  // box around (3, 3) is [2, 4): 2 pixels, not 3, as in timm.
  const CutmixBox box = RandBbox(7, 7, 0.75, 3, 3);
  EXPECT_EQ(box.y1, 2);
  EXPECT_EQ(box.y2, 4);
  EXPECT_EQ(box.x1, 2);
  EXPECT_EQ(box.x2, 4);
  EXPECT_DOUBLE_EQ(CutmixLam(box, 7, 7), 1.0 - 4.0 / 49.0);
}

TEST_F(MixupTest, RandBboxOfLamZeroCoversTheFrameFromTheCentre) {
  // lam 0: cut = the whole side; centred on (4, 3) of 8 x 6 it covers all.
  const CutmixBox box = RandBbox(8, 6, 0.0, 4, 3);
  EXPECT_EQ(box.Area(), 48);
  EXPECT_EQ(CutmixLam(box, 8, 6), 0.0);
}

TEST_F(MixupTest, MixupOfTwoClipsByHand) {
  // Clip 0 holds 0..7, clip 1 holds 8..15. lam 0.25:
  // out0 = 0.25 * x0 + 0.75 * x1, out1 = 0.25 * x1 + 0.75 * x0.
  const torch::Tensor clips = DistinctClips(2, 1, 2, 2, 2);
  MixParams params;
  params.lam = 0.25;
  absl::StatusOr<torch::Tensor> mixed = MixClips(clips, params);
  ASSERT_OK(mixed);
  ASSERT_EQ(mixed->sizes(), clips.sizes());
  const torch::Tensor flat = mixed->flatten();
  for (int64_t i = 0; i < 8; ++i) {
    const double x0 = static_cast<double>(i);
    const double x1 = static_cast<double>(i + 8);
    EXPECT_FLOAT_EQ(flat[i].item<float>(), static_cast<float>(0.25 * x0 + 0.75 * x1)) << i;
    EXPECT_FLOAT_EQ(flat[i + 8].item<float>(), static_cast<float>(0.25 * x1 + 0.75 * x0)) << i;
  }
  // The input is left alone.
  EXPECT_TRUE(torch::equal(clips, DistinctClips(2, 1, 2, 2, 2)));
}

TEST_F(MixupTest, CutmixPastesTheSameBoxOnEveryFrameAndChannel) {
  const int64_t b = 4, c = 3, t = 3, h = 6, w = 5;
  const torch::Tensor clips = DistinctClips(b, c, t, h, w);
  MixParams params;
  params.use_cutmix = true;
  params.box = CutmixBox{/*y1=*/1, /*y2=*/4, /*x1=*/2, /*x2=*/5};
  params.lam = CutmixLam(params.box, h, w);
  absl::StatusOr<torch::Tensor> mixed = MixClips(clips, params);
  ASSERT_OK(mixed);
  const auto in = clips.accessor<float, 5>();
  const torch::Tensor out_tensor = mixed->contiguous();
  const auto out = out_tensor.accessor<float, 5>();
  int64_t changed = 0;
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t f = 0; f < t; ++f) {
        for (int64_t y = 0; y < h; ++y) {
          for (int64_t x = 0; x < w; ++x) {
            const bool inside = y >= 1 && y < 4 && x >= 2 && x < 5;
            // The mirror of clip i is clip b - 1 - i.
            const float expected = inside ? in[b - 1 - i][ch][f][y][x] : in[i][ch][f][y][x];
            EXPECT_EQ(out[i][ch][f][y][x], expected)
                << i << " " << ch << " " << f << " " << y << " " << x;
            changed += out[i][ch][f][y][x] != in[i][ch][f][y][x] ? 1 : 0;
          }
        }
      }
    }
  }
  // 9 pixels of 30 on every one of the 4 x 3 x 3 frames; lam = 1 - 9 / 30.
  EXPECT_EQ(changed, 9 * b * c * t);
  EXPECT_DOUBLE_EQ(params.lam, 0.7);
}

TEST_F(MixupTest, LamOneLeavesTheClipsAlone) {
  const torch::Tensor clips = DistinctClips(2, 1, 1, 2, 2);
  absl::StatusOr<torch::Tensor> mixed = MixClips(clips, MixParams{});
  ASSERT_OK(mixed);
  EXPECT_TRUE(torch::equal(*mixed, clips));
  // A copy, not a view of the input.
  mixed->fill_(0.0);
  EXPECT_TRUE(torch::equal(clips, DistinctClips(2, 1, 1, 2, 2)));
}

TEST_F(MixupTest, MixTargetsByHand) {
  // K 4, labels [1, 3], smoothing 0.1, lam 0.7: off 0.025, on 0.925.
  // Row 0 mixes onehot(1) (weight 0.7) with onehot(3) (0.3):
  //   [0.025, 0.925 * 0.7 + 0.025 * 0.3, 0.025, 0.025 * 0.7 + 0.925 * 0.3]
  //   = [0.025, 0.655, 0.025, 0.295]; row 1 the other way round.
  absl::StatusOr<torch::Tensor> targets =
      MixTargets(torch::tensor({1, 3}, torch::kLong), 4, 0.7, 0.1);
  ASSERT_OK(targets);
  EXPECT_EQ(targets->scalar_type(), torch::kFloat);
  ASSERT_EQ(targets->sizes(), (std::vector<int64_t>{2, 4}));
  const std::vector<std::vector<float>> expected = {{0.025f, 0.655f, 0.025f, 0.295f},
                                                    {0.025f, 0.295f, 0.025f, 0.655f}};
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t k = 0; k < 4; ++k) {
      EXPECT_NEAR((*targets)[i][k].item<float>(), expected[i][k], 1e-6) << i << " " << k;
    }
    EXPECT_NEAR((*targets)[i].sum().item<float>(), 1.0f, 1e-6);
  }
}

TEST_F(MixupTest, MixTargetsRejectsBadInput) {
  EXPECT_THAT(MixTargets(torch::tensor({0, 4}, torch::kLong), 4, 0.5, 0.1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MixTargets(torch::tensor({0, -1}, torch::kLong), 4, 0.5, 0.1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MixTargets(torch::tensor({0.0f, 1.0f}), 4, 0.5, 0.1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MixTargets(torch::tensor({0, 1}, torch::kLong), 4, 1.5, 0.1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MixTargets(torch::tensor({0, 1}, torch::kLong), 4, 0.5, 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(MixupTest, MixClipsRejectsBadInput) {
  MixParams params;
  params.lam = 0.5;
  // timm: "Batch size should be even when using this".
  EXPECT_THAT(MixClips(DistinctClips(3, 1, 1, 2, 2), params),
              StatusIs(absl::StatusCode::kInvalidArgument, "even"));
  EXPECT_THAT(MixClips(torch::zeros({2, 1, 2, 2}), params),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MixClips(torch::zeros({2, 1, 1, 2, 2}, torch::kLong), params),
              StatusIs(absl::StatusCode::kInvalidArgument));
  params.use_cutmix = true;
  params.box = CutmixBox{0, 3, 0, 1};  // 3 rows of a 2-row frame
  EXPECT_THAT(MixClips(DistinctClips(2, 1, 1, 2, 2), params),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(MixupTest, CreateRejectsBadOptions) {
  MixupOptions options = RecipeOptions(10);
  EXPECT_OK(Mixup::Create(options));
  options.mixup_alpha = 0.0;
  options.cutmix_alpha = 0.0;
  EXPECT_THAT(Mixup::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = RecipeOptions(0);
  EXPECT_THAT(Mixup::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = RecipeOptions(10);
  options.label_smoothing = 1.0;
  EXPECT_THAT(Mixup::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = RecipeOptions(10);
  options.switch_prob = 1.5;
  EXPECT_THAT(Mixup::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options = RecipeOptions(10);
  options.mixup_alpha = -1.0;
  EXPECT_THAT(Mixup::Create(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(MixupTest, ApplyRejectsAnOddBatch) {
  absl::StatusOr<Mixup> mixup = Mixup::Create(RecipeOptions(10));
  ASSERT_OK(mixup);
  EXPECT_THAT(mixup->Apply(DistinctClips(3, 1, 2, 4, 4), torch::tensor({0, 1, 2}, torch::kLong),
                           /*seed=*/1, /*step=*/0),
              StatusIs(absl::StatusCode::kInvalidArgument, "even"));
  // And labels that do not match the batch, or fall outside the classes.
  EXPECT_THAT(
      mixup->Apply(DistinctClips(2, 1, 2, 4, 4), torch::tensor({0, 1, 2}, torch::kLong), 1, 0),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      mixup->Apply(DistinctClips(2, 1, 2, 4, 4), torch::tensor({0, 10}, torch::kLong), 1, 0),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(MixupTest, DrawIsAFunctionOfSeedAndStep) {
  absl::StatusOr<Mixup> mixup = Mixup::Create(RecipeOptions(10));
  ASSERT_OK(mixup);
  const MixParams a = mixup->Draw(224, 224, /*seed=*/42, /*step=*/17);
  // Draws for other steps and seeds in between change nothing.
  mixup->Draw(224, 224, 42, 18);
  mixup->Draw(224, 224, 43, 17);
  const MixParams b = mixup->Draw(224, 224, 42, 17);
  EXPECT_EQ(a.lam, b.lam);
  EXPECT_EQ(a.use_cutmix, b.use_cutmix);
  EXPECT_EQ(a.box.y1, b.box.y1);
  EXPECT_EQ(a.box.y2, b.box.y2);
  EXPECT_EQ(a.box.x1, b.box.x1);
  EXPECT_EQ(a.box.x2, b.box.x2);
  // lam is continuous: distinct steps, or seeds, draw distinct values.
  EXPECT_NE(mixup->Draw(224, 224, 42, 18).lam, a.lam);
  EXPECT_NE(mixup->Draw(224, 224, 43, 17).lam, a.lam);
  for (int64_t step = 0; step < 20; ++step) {
    EXPECT_NE(mixup->Draw(224, 224, 42, step).lam, mixup->Draw(224, 224, 42, step + 1).lam);
  }
}

TEST_F(MixupTest, MixupLamFollowsBetaAlphaAlpha) {
  // Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)). Over 20000 draws
  // the standard error of the mean is below 0.0025 and that of the variance
  // below 0.001; the tolerances are about 4 of them. a = 0.3 exercises the
  // shape < 1 branch of the gamma sampler, 0.8 is the recipe, 2 the other.
  for (const double alpha : {0.3, 0.8, 2.0}) {
    MixupOptions options = RecipeOptions(10);
    options.mixup_alpha = alpha;
    options.cutmix_alpha = 0.0;
    absl::StatusOr<Mixup> mixup = Mixup::Create(options);
    ASSERT_OK(mixup);
    const Moments m = LamMoments(*mixup, 20000);
    EXPECT_NEAR(m.mean, 0.5, 0.01) << "alpha " << alpha;
    EXPECT_NEAR(m.variance, 1.0 / (4.0 * (2.0 * alpha + 1.0)), 0.004) << "alpha " << alpha;
  }
}

TEST_F(MixupTest, CutmixLamWithoutCorrectionIsUniform) {
  // Beta(1, 1) is uniform: mean 1/2, variance 1/12, a quarter below 1/4.
  MixupOptions options = RecipeOptions(10);
  options.mixup_alpha = 0.0;
  options.correct_lam = false;
  absl::StatusOr<Mixup> mixup = Mixup::Create(options);
  ASSERT_OK(mixup);
  const Moments m = LamMoments(*mixup, 20000);
  EXPECT_NEAR(m.mean, 0.5, 0.01);
  EXPECT_NEAR(m.variance, 1.0 / 12.0, 0.004);
  int below_quarter = 0;
  for (int step = 0; step < 20000; ++step) {
    below_quarter += mixup->Draw(224, 224, 7, step).lam < 0.25 ? 1 : 0;
  }
  EXPECT_NEAR(below_quarter / 20000.0, 0.25, 0.015);
}

TEST_F(MixupTest, CutmixBoxMatchesItsLam) {
  // Without correction the box has the size rand_bbox gives the drawn lam:
  // an unclipped side is 2 * (int(side * sqrt(1 - lam)) // 2) long.
  MixupOptions options = RecipeOptions(10);
  options.mixup_alpha = 0.0;
  options.correct_lam = false;
  absl::StatusOr<Mixup> raw = Mixup::Create(options);
  ASSERT_OK(raw);
  options.correct_lam = true;
  absl::StatusOr<Mixup> corrected = Mixup::Create(options);
  ASSERT_OK(corrected);
  const int64_t h = 112, w = 96;
  int unclipped = 0;
  for (int64_t step = 0; step < 500; ++step) {
    const MixParams p = raw->Draw(h, w, 3, step);
    ASSERT_TRUE(p.use_cutmix);
    const double cut_rat = std::sqrt(1.0 - p.lam);
    if (p.box.y1 > 0 && p.box.y2 < h) {
      EXPECT_EQ(p.box.y2 - p.box.y1, 2 * (static_cast<int64_t>(h * cut_rat) / 2)) << step;
      ++unclipped;
    }
    if (p.box.x1 > 0 && p.box.x2 < w) {
      EXPECT_EQ(p.box.x2 - p.box.x1, 2 * (static_cast<int64_t>(w * cut_rat) / 2)) << step;
    }
    // The same draws with correction: the same box, lam from its area.
    const MixParams q = corrected->Draw(h, w, 3, step);
    EXPECT_EQ(q.box.Area(), p.box.Area());
    EXPECT_DOUBLE_EQ(q.lam, 1.0 - static_cast<double>(p.box.Area()) / (h * w)) << step;
  }
  EXPECT_GT(unclipped, 50);
}

TEST_F(MixupTest, SwitchProbAndProbSetTheShares) {
  // Recipe: mixed always, CutMix half the time.
  MixupOptions options = RecipeOptions(10);
  absl::StatusOr<Mixup> recipe = Mixup::Create(options);
  ASSERT_OK(recipe);
  options.switch_prob = 0.2;
  options.prob = 0.3;
  absl::StatusOr<Mixup> rare = Mixup::Create(options);
  ASSERT_OK(rare);
  const int n = 20000;
  int recipe_cutmix = 0, recipe_mixed = 0, rare_cutmix = 0, rare_mixed = 0;
  for (int step = 0; step < n; ++step) {
    const MixParams p = recipe->Draw(224, 224, 11, step);
    recipe_cutmix += p.use_cutmix ? 1 : 0;
    recipe_mixed += p.lam != 1.0 ? 1 : 0;
    const MixParams q = rare->Draw(224, 224, 11, step);
    rare_cutmix += q.use_cutmix ? 1 : 0;
    rare_mixed += q.lam != 1.0 ? 1 : 0;
  }
  // Standard errors below 0.0036; a CutMix box of a lam near 1 can be empty
  // (then not counted), which is rare at 224 pixels.
  EXPECT_NEAR(recipe_cutmix / static_cast<double>(n), 0.5, 0.015);
  EXPECT_GT(recipe_mixed, n - 100);
  EXPECT_NEAR(rare_mixed / static_cast<double>(n), 0.3, 0.015);
  EXPECT_NEAR(rare_cutmix / static_cast<double>(n), 0.3 * 0.2, 0.01);

  options.prob = 0.0;
  absl::StatusOr<Mixup> never = Mixup::Create(options);
  ASSERT_OK(never);
  for (int step = 0; step < 100; ++step) {
    const MixParams p = never->Draw(224, 224, 11, step);
    EXPECT_EQ(p.lam, 1.0);
    EXPECT_FALSE(p.use_cutmix);
  }
}

TEST_F(MixupTest, ApplyMixesClipsAndTargetsWithTheDrawnLam) {
  absl::StatusOr<Mixup> mixup = Mixup::Create(RecipeOptions(5));
  ASSERT_OK(mixup);
  const int64_t h = 8, w = 8;
  const torch::Tensor clips = DistinctClips(2, 3, 2, h, w);
  const torch::Tensor labels = torch::tensor({4, 1}, torch::kLong);
  bool saw_cutmix = false, saw_mixup = false;
  for (int64_t step = 0; step < 40; ++step) {
    absl::StatusOr<MixedBatch> batch = mixup->Apply(clips, labels, /*seed=*/5, step);
    ASSERT_OK(batch);
    const MixParams& p = batch->params;
    const MixParams drawn = mixup->Draw(h, w, 5, step);
    EXPECT_EQ(p.lam, drawn.lam);
    EXPECT_EQ(p.use_cutmix, drawn.use_cutmix);
    // Targets of row 0 (label 4, mirror label 1), by hand: off = 0.1 / 5,
    // on = 0.9 + off.
    const double off = 0.02, on = 0.92;
    EXPECT_NEAR(batch->targets[0][4].item<float>(), on * p.lam + off * (1.0 - p.lam), 1e-6);
    EXPECT_NEAR(batch->targets[0][1].item<float>(), off * p.lam + on * (1.0 - p.lam), 1e-6);
    EXPECT_NEAR(batch->targets[0][0].item<float>(), off, 1e-6);
    if (p.use_cutmix) {
      saw_cutmix = true;
      // The share of pixels taken from the mirror is 1 - lam.
      const int64_t changed = batch->clips[0][0][0].ne(clips[0][0][0]).sum().item<int64_t>();
      EXPECT_DOUBLE_EQ(1.0 - static_cast<double>(changed) / (h * w), p.lam);
    } else if (p.lam != 1.0) {
      saw_mixup = true;
      const float x0 = clips[0][2][1][3][5].item<float>();
      const float x1 = clips[1][2][1][3][5].item<float>();
      EXPECT_FLOAT_EQ(batch->clips[0][2][1][3][5].item<float>(),
                      static_cast<float>(x0 * p.lam + x1 * (1.0 - p.lam)));
    }
  }
  EXPECT_TRUE(saw_cutmix);
  EXPECT_TRUE(saw_mixup);
  EXPECT_TRUE(torch::equal(clips, DistinctClips(2, 3, 2, h, w)));
}

}  // namespace
}  // namespace vmae::train
