// Sizes, parameter counts and state-dict key names against the authors' models.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/worker/model/test_util.h"
#include "worker/model/classifier.h"
#include "worker/model/options.h"
#include "worker/model/param_count.h"
#include "worker/model/pretrain_model.h"

namespace vmae::model {
namespace {

using ::vmae::model::testing::TinyOptions;

std::vector<std::string> BlockKeys(const std::string& prefix) {
  std::vector<std::string> keys;
  for (const char* suffix :
       {"norm1.weight", "norm1.bias", "attn.q_bias", "attn.v_bias", "attn.qkv.weight",
        "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight",
        "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"}) {
    keys.push_back(prefix + suffix);
  }
  return keys;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(OptionsTest, PresetsMatchTheReferenceTable) {
  const ModelOptions s = VitSmall();
  EXPECT_EQ(s.embed_dim(), 384);
  EXPECT_EQ(s.depth(), 12);
  EXPECT_EQ(s.num_heads(), 6);
  EXPECT_EQ(s.decoder_embed_dim(), 192);
  EXPECT_EQ(s.decoder_num_heads(), 3);
  const ModelOptions b = VitBase();
  EXPECT_EQ(b.embed_dim(), 768);
  EXPECT_EQ(b.depth(), 12);
  EXPECT_EQ(b.num_heads(), 12);
  EXPECT_EQ(b.decoder_embed_dim(), 384);
  EXPECT_EQ(b.decoder_num_heads(), 6);
  const ModelOptions l = VitLarge();
  EXPECT_EQ(l.embed_dim(), 1024);
  EXPECT_EQ(l.depth(), 24);
  EXPECT_EQ(l.num_heads(), 16);
  EXPECT_EQ(l.decoder_embed_dim(), 512);
  EXPECT_EQ(l.decoder_num_heads(), 8);
  const ModelOptions h = VitHuge();
  EXPECT_EQ(h.embed_dim(), 1280);
  EXPECT_EQ(h.depth(), 32);
  EXPECT_EQ(h.num_heads(), 16);
  EXPECT_EQ(h.embed_dim() / h.num_heads(), 80);
  EXPECT_EQ(h.decoder_embed_dim(), 640);
  EXPECT_EQ(h.decoder_num_heads(), 8);
  for (const ModelOptions& o : {s, b, l, h}) {
    EXPECT_EQ(o.decoder_depth(), 4);
    EXPECT_EQ(o.patch_size(), 16);
    EXPECT_EQ(o.tubelet_size(), 2);
    EXPECT_EQ(o.mlp_ratio(), 4.0);
    EXPECT_EQ(o.in_chans(), 3);
    EXPECT_EQ(o.init_scale(), 0.001);
    EXPECT_EQ(o.attn_dropout(), 0.0);
    EXPECT_EQ(o.proj_dropout(), 0.0);
  }
  for (const ModelOptions& o : {s, b, l}) {
    EXPECT_EQ(o.embed_dim() / o.num_heads(), 64);
  }
}

TEST(OptionsTest, TokenCountsFor16x224) {
  const ModelOptions o = VitBase();
  EXPECT_EQ(NumPatches(o), 1568);
  EXPECT_EQ(NumPatchesPerFrame(o), 196);
  EXPECT_EQ(PatchDim(o), 1536);
  const TokenGrid g = GridOf(o);
  EXPECT_EQ(g.t, 8);
  EXPECT_EQ(g.h, 14);
  EXPECT_EQ(g.w, 14);
}

TEST(OptionsTest, VitBaseClassifierHas86534800Parameters) {
  VisionTransformer model(VitBase().num_classes(400));
  EXPECT_EQ(CountParameters(*model), 86534800);
}

TEST(OptionsTest, VitBasePretrainingModelHas94210944Parameters) {
  PretrainVisionTransformer model(VitBase().decoder_depth(4));
  EXPECT_EQ(CountParameters(*model), 94210944);
  EXPECT_EQ(CountParameters(*model, /*trainable_only=*/true), 94210944);
}

TEST(OptionsTest, PretrainingKeysMatchTheAuthorsCheckpoint) {
  PretrainVisionTransformer model(TinyOptions().depth(2).decoder_depth(1));
  std::vector<std::string> expected = {"encoder.patch_embed.proj.weight",
                                       "encoder.patch_embed.proj.bias"};
  for (const char* b : {"encoder.blocks.0.", "encoder.blocks.1.", "decoder.blocks.0."}) {
    for (const std::string& k : BlockKeys(b)) {
      expected.push_back(k);
    }
  }
  for (const char* k : {"encoder.norm.weight", "encoder.norm.bias", "decoder.norm.weight",
                        "decoder.norm.bias", "decoder.head.weight", "decoder.head.bias",
                        "encoder_to_decoder.weight", "mask_token"}) {
    expected.push_back(k);
  }
  EXPECT_EQ(Sorted(StateDictKeys(*model)), Sorted(expected));
  // No buffers at all: the sinusoid tables stay out of the state dict.
  EXPECT_TRUE(model->named_buffers().is_empty());
}

TEST(OptionsTest, ClassifierKeysMatchTheAuthorsCheckpoint) {
  VisionTransformer model(TinyOptions().depth(2));
  std::vector<std::string> expected = {"patch_embed.proj.weight", "patch_embed.proj.bias"};
  for (const char* b : {"blocks.0.", "blocks.1."}) {
    for (const std::string& k : BlockKeys(b)) {
      expected.push_back(k);
    }
  }
  for (const char* k : {"fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"}) {
    expected.push_back(k);
  }
  EXPECT_EQ(Sorted(StateDictKeys(*model)), Sorted(expected));
  EXPECT_TRUE(model->named_buffers().is_empty());
}

TEST(OptionsTest, ClassifierWithoutMeanPoolingHasNormInsteadOfFcNorm) {
  VisionTransformer model(TinyOptions().depth(1).use_mean_pooling(false));
  std::vector<std::string> expected = {"patch_embed.proj.weight", "patch_embed.proj.bias"};
  for (const std::string& k : BlockKeys("blocks.0.")) {
    expected.push_back(k);
  }
  for (const char* k : {"norm.weight", "norm.bias", "head.weight", "head.bias"}) {
    expected.push_back(k);
  }
  EXPECT_EQ(Sorted(StateDictKeys(*model)), Sorted(expected));
}

TEST(OptionsTest, ParameterShapesFollowTheAuthors) {
  PretrainVisionTransformer model(TinyOptions());
  auto params = model->named_parameters();
  EXPECT_EQ(params["encoder.patch_embed.proj.weight"].sizes(),
            torch::IntArrayRef({32, 3, 2, 8, 8}));
  EXPECT_EQ(params["encoder.blocks.0.attn.qkv.weight"].sizes(), torch::IntArrayRef({96, 32}));
  EXPECT_EQ(params["encoder.blocks.0.attn.q_bias"].sizes(), torch::IntArrayRef({32}));
  EXPECT_EQ(params["encoder.blocks.0.mlp.fc1.weight"].sizes(), torch::IntArrayRef({128, 32}));
  EXPECT_EQ(params["decoder.head.weight"].sizes(), torch::IntArrayRef({384, 16}));
  EXPECT_EQ(params["encoder_to_decoder.weight"].sizes(), torch::IntArrayRef({16, 32}));
  EXPECT_EQ(params["mask_token"].sizes(), torch::IntArrayRef({1, 1, 16}));
}

}  // namespace
}  // namespace vmae::model
