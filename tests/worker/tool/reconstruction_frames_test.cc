// The reconstruction pictures: patch layout inverse, and a perfect
// prediction (the training target itself) gives back the original frames.
#include "worker/tool/reconstruction_frames.h"

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "worker/model/target.h"

namespace vmae::tool {
namespace {

TEST(ReconstructionFramesTest, UnpatchifyInvertsPatchify) {
  torch::manual_seed(0);
  const at::Tensor video = torch::randn({2, 3, 4, 16, 24});
  const at::Tensor patches = model::PatchifyVideo(video, 2, 8);
  EXPECT_TRUE(torch::equal(UnpatchifyVideo(patches, 4, 16, 24, 2, 8), video));
}

TEST(ReconstructionFramesTest, PatchLayoutPutsEachPixelInItsPatch) {
  // One pixel set at (t=3, y=9, x=2): tubelet 2, patch 8 -> token (1, 1, 0)
  // = 1*2*1 + 1*1 + 0 = index 3 of a [2, 2, 1] grid (h=16, w=8), offset
  // (p0=1, p1=1, p2=2) = 1*64 + 1*8 + 2 = 74 within the token.
  at::Tensor video = torch::zeros({1, 1, 4, 16, 8});
  video[0][0][3][9][2] = 1.0;
  const at::Tensor patches = model::PatchifyVideo(video, 2, 8);
  EXPECT_EQ(patches.sum().item<float>(), 1.0f);
  EXPECT_EQ(patches[0][3][74][0].item<float>(), 1.0f);
  EXPECT_TRUE(torch::equal(UnpatchifyVideo(patches, 4, 16, 8, 2, 8), video));
}

TEST(ReconstructionFramesTest, PerfectPredictionRebuildsTheOriginal) {
  torch::manual_seed(1);
  const at::Tensor clip = torch::randn({1, 3, 4, 16, 16}) * 0.5;
  at::Tensor mask = torch::zeros({1, 8}, torch::kBool);
  mask.index_put_({0, torch::tensor({0, 2, 5, 7})}, true);
  for (bool normalize : {true, false}) {
    const at::Tensor target = model::ReconstructionTarget(clip, 2, 8, normalize);
    const at::Tensor pred = model::SelectTokens(target, mask);
    const ReconstructionVideos v = RenderReconstruction(clip, mask, pred, 2, 8, normalize);
    // Same bytes up to one rounding step.
    EXPECT_LE((v.reconstructed.to(torch::kInt) - v.original.to(torch::kInt)).abs().max().item<int>(),
              1)
        << "normalize=" << normalize;
    // The masked picture differs exactly on the hidden patches (grey 128).
    EXPECT_EQ(v.masked.sizes(), v.original.sizes());
  }
}

TEST(ReconstructionFramesTest, MaskedPictureIsGreyOnHiddenPatchesOnly) {
  const at::Tensor clip = torch::zeros({1, 3, 2, 16, 16});  // ImageNet mean colour
  at::Tensor mask = torch::zeros({1, 4}, torch::kBool);
  mask[0][1] = true;  // token 1 = (h 0, w 1): rows 0-7, columns 8-15.
  const at::Tensor pred = torch::zeros({1, 1, 2 * 8 * 8 * 3});
  const ReconstructionVideos v = RenderReconstruction(clip, mask, pred, 2, 8, false);
  // Hidden patch: 0.5 -> 128 (round(127.5)); visible: ImageNet red mean 0.485 -> 124.
  EXPECT_EQ(v.masked[0][0][0][8][0].item<uint8_t>(), 128);
  EXPECT_EQ(v.masked[0][0][0][0][0].item<uint8_t>(), 124);
  EXPECT_EQ(v.masked[0][1][7][15][0].item<uint8_t>(), 128);
  EXPECT_EQ(v.masked[0][1][8][15][0].item<uint8_t>(), 124);  // token 3, below it.
  EXPECT_EQ(v.masked[0][1][15][7][0].item<uint8_t>(), 124);
}

}  // namespace
}  // namespace vmae::tool
