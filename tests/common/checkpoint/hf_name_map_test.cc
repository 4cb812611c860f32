#include "common/checkpoint/hf_name_map.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/checkpoint/test_util.h"

namespace vmae::checkpoint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::StatusIs;

ModelDims TinyPretrain() {
  ModelDims dims;
  dims.kind = ModelKind::kPretrain;
  dims.hidden_size = 8;
  dims.intermediate_size = 32;
  dims.depth = 2;
  dims.patch_size = 2;
  dims.tubelet_size = 2;
  dims.decoder_hidden_size = 4;
  dims.decoder_intermediate_size = 16;
  dims.decoder_depth = 1;
  dims.use_mean_pooling = false;
  return dims;
}

ModelDims TinyFinetune(bool mean_pooling) {
  ModelDims dims;
  dims.kind = ModelKind::kFinetune;
  dims.hidden_size = 8;
  dims.intermediate_size = 32;
  dims.depth = 1;
  dims.patch_size = 2;
  dims.tubelet_size = 2;
  dims.decoder_depth = 0;
  dims.num_classes = 5;
  dims.use_mean_pooling = mean_pooling;
  return dims;
}

// The native tensors `dims` expects, as F32 infos laid out back to back.
std::map<std::string, TensorInfo> NativeInfos(const ModelDims& dims) {
  std::map<std::string, TensorInfo> out;
  int64_t offset = 0;
  for (const ExpectedTensor& t : ExpectedTensors(dims)) {
    TensorInfo info{"F32", t.shape, offset, offset + 4 * *NumElements(t.shape)};
    offset = info.end;
    out[t.native_name] = info;
  }
  return out;
}

std::map<std::string, std::string> HfToNative(const std::vector<HfTensorPlan>& plans) {
  std::map<std::string, std::string> out;
  for (const HfTensorPlan& p : plans) {
    out[p.hf_name] = p.native_name;
  }
  return out;
}

TEST(HfNameMapTest, ParsesModelKinds) {
  EXPECT_EQ(*ParseModelKind("pretrain"), ModelKind::kPretrain);
  EXPECT_EQ(*ParseModelKind("finetune"), ModelKind::kFinetune);
  EXPECT_EQ(ModelKindName(ModelKind::kFinetune), "finetune");
  EXPECT_THAT(ParseModelKind("Pretrain"),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown model kind"));
}

// The full list for one encoder block, written out from transformers'
// VideoMAELayer, independently of the table.
TEST(HfNameMapTest, EncoderBlockMapsToTransformersNames) {
  auto plans = PlanHfTensors(NativeInfos(TinyPretrain()), TinyPretrain());
  ASSERT_OK(plans);
  const std::map<std::string, std::string> m = HfToNative(*plans);
  const std::map<std::string, std::string> expected = {
      {"videomae.encoder.layer.1.layernorm_before.weight", "encoder.blocks.1.norm1.weight"},
      {"videomae.encoder.layer.1.layernorm_before.bias", "encoder.blocks.1.norm1.bias"},
      {"videomae.encoder.layer.1.attention.attention.query.weight",
       "encoder.blocks.1.attn.qkv.weight"},
      {"videomae.encoder.layer.1.attention.attention.key.weight",
       "encoder.blocks.1.attn.qkv.weight"},
      {"videomae.encoder.layer.1.attention.attention.value.weight",
       "encoder.blocks.1.attn.qkv.weight"},
      {"videomae.encoder.layer.1.attention.attention.q_bias", "encoder.blocks.1.attn.q_bias"},
      {"videomae.encoder.layer.1.attention.attention.v_bias", "encoder.blocks.1.attn.v_bias"},
      {"videomae.encoder.layer.1.attention.output.dense.weight",
       "encoder.blocks.1.attn.proj.weight"},
      {"videomae.encoder.layer.1.attention.output.dense.bias", "encoder.blocks.1.attn.proj.bias"},
      {"videomae.encoder.layer.1.layernorm_after.weight", "encoder.blocks.1.norm2.weight"},
      {"videomae.encoder.layer.1.layernorm_after.bias", "encoder.blocks.1.norm2.bias"},
      {"videomae.encoder.layer.1.intermediate.dense.weight", "encoder.blocks.1.mlp.fc1.weight"},
      {"videomae.encoder.layer.1.intermediate.dense.bias", "encoder.blocks.1.mlp.fc1.bias"},
      {"videomae.encoder.layer.1.output.dense.weight", "encoder.blocks.1.mlp.fc2.weight"},
      {"videomae.encoder.layer.1.output.dense.bias", "encoder.blocks.1.mlp.fc2.bias"},
  };
  for (const auto& [hf, native] : expected) {
    auto it = m.find(hf);
    ASSERT_NE(it, m.end()) << hf;
    EXPECT_EQ(it->second, native) << hf;
  }
}

TEST(HfNameMapTest, PretrainTopLevelAndDecoderNames) {
  auto plans = PlanHfTensors(NativeInfos(TinyPretrain()), TinyPretrain());
  ASSERT_OK(plans);
  const std::map<std::string, std::string> m = HfToNative(*plans);
  EXPECT_EQ(m.at("videomae.embeddings.patch_embeddings.projection.weight"),
            "encoder.patch_embed.proj.weight");
  EXPECT_EQ(m.at("videomae.embeddings.patch_embeddings.projection.bias"),
            "encoder.patch_embed.proj.bias");
  EXPECT_EQ(m.at("videomae.layernorm.weight"), "encoder.norm.weight");
  EXPECT_EQ(m.at("videomae.layernorm.bias"), "encoder.norm.bias");
  EXPECT_EQ(m.at("encoder_to_decoder.weight"), "encoder_to_decoder.weight");
  EXPECT_EQ(m.at("mask_token"), "mask_token");
  EXPECT_EQ(m.at("decoder.norm.weight"), "decoder.norm.weight");
  EXPECT_EQ(m.at("decoder.head.weight"), "decoder.head.weight");
  EXPECT_EQ(m.at("decoder.head.bias"), "decoder.head.bias");
  EXPECT_EQ(m.at("decoder.decoder_layers.0.attention.attention.key.weight"),
            "decoder.blocks.0.attn.qkv.weight");
  EXPECT_EQ(m.at("decoder.decoder_layers.0.attention.attention.v_bias"),
            "decoder.blocks.0.attn.v_bias");
  EXPECT_EQ(m.at("decoder.decoder_layers.0.layernorm_after.bias"), "decoder.blocks.0.norm2.bias");
  // 10 top-level tensors + 15 per block, 3 blocks.
  EXPECT_EQ(plans->size(), 10u + 15u * 3u);
  EXPECT_EQ(ExpectedTensors(TinyPretrain()).size(), 10u + 13u * 3u);
}

TEST(HfNameMapTest, QkvSplitsIntoThreeRowBlocks) {
  auto plans = PlanHfTensors(NativeInfos(TinyPretrain()), TinyPretrain());
  ASSERT_OK(plans);
  std::map<std::string, const HfTensorPlan*> by_name;
  for (const HfTensorPlan& p : *plans) {
    by_name[p.hf_name] = &p;
  }
  const std::string prefix = "decoder.decoder_layers.0.attention.attention.";
  const int64_t row_block = 4 * 4 * 4;  // W rows of W floats.
  const char* parts[] = {"query", "key", "value"};
  for (int i = 0; i < 3; ++i) {
    const HfTensorPlan& p = *by_name.at(absl::StrCat(prefix, parts[i], ".weight"));
    EXPECT_EQ(p.shape, (std::vector<int64_t>{4, 4}));
    EXPECT_EQ(p.byte_offset, i * row_block);
    EXPECT_EQ(p.byte_length, row_block);
  }
}

TEST(HfNameMapTest, FinetuneWithMeanPoolingUsesFcNormAndClassifier) {
  auto plans = PlanHfTensors(NativeInfos(TinyFinetune(true)), TinyFinetune(true));
  ASSERT_OK(plans);
  const std::map<std::string, std::string> m = HfToNative(*plans);
  EXPECT_EQ(m.at("fc_norm.weight"), "fc_norm.weight");
  EXPECT_EQ(m.at("fc_norm.bias"), "fc_norm.bias");
  EXPECT_EQ(m.at("classifier.weight"), "head.weight");
  EXPECT_EQ(m.at("classifier.bias"), "head.bias");
  EXPECT_EQ(m.at("videomae.encoder.layer.0.attention.attention.query.weight"),
            "blocks.0.attn.qkv.weight");
  EXPECT_EQ(m.at("videomae.embeddings.patch_embeddings.projection.weight"),
            "patch_embed.proj.weight");
  EXPECT_EQ(m.count("videomae.layernorm.weight"), 0u);
  EXPECT_EQ(plans->size(), 6u + 15u);
}

TEST(HfNameMapTest, FinetuneWithoutMeanPoolingUsesTheFinalNorm) {
  auto plans = PlanHfTensors(NativeInfos(TinyFinetune(false)), TinyFinetune(false));
  ASSERT_OK(plans);
  const std::map<std::string, std::string> m = HfToNative(*plans);
  EXPECT_EQ(m.at("videomae.layernorm.weight"), "norm.weight");
  EXPECT_EQ(m.at("videomae.layernorm.bias"), "norm.bias");
  EXPECT_EQ(m.count("fc_norm.weight"), 0u);
}

TEST(HfNameMapTest, ChecksShapesAgainstTheArchitecture) {
  const ModelDims dims = TinyPretrain();
  std::map<std::string, TensorInfo> infos = NativeInfos(dims);
  EXPECT_EQ(infos.at("encoder.patch_embed.proj.weight").shape,
            (std::vector<int64_t>{8, 3, 2, 2, 2}));
  EXPECT_EQ(infos.at("mask_token").shape, (std::vector<int64_t>{1, 1, 4}));
  EXPECT_EQ(infos.at("decoder.head.weight").shape, (std::vector<int64_t>{24, 4}));
  EXPECT_EQ(infos.at("encoder.blocks.0.mlp.fc2.weight").shape, (std::vector<int64_t>{8, 32}));
  EXPECT_EQ(infos.at("decoder.blocks.0.attn.qkv.weight").shape, (std::vector<int64_t>{12, 4}));

  infos["encoder.blocks.1.attn.qkv.weight"].shape = {25, 8};
  EXPECT_THAT(PlanHfTensors(infos, dims),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tensor 'encoder.blocks.1.attn.qkv.weight' has shape [25, 8], the "
                       "architecture needs [24, 8]: its rows are not divisible by 3"));
}

TEST(HfNameMapTest, NamesMissingUnexpectedAndNonFloatTensors) {
  const ModelDims dims = TinyPretrain();
  std::map<std::string, TensorInfo> infos = NativeInfos(dims);
  infos.erase("encoder.blocks.0.attn.v_bias");
  infos["encoder.blocks.2.norm1.weight"] = TensorInfo{"F32", {8}, 0, 32};
  infos["decoder.norm.bias"].dtype = "I32";
  auto plans = PlanHfTensors(infos, dims);
  EXPECT_THAT(plans, StatusIs(absl::StatusCode::kInvalidArgument, "3 problems"));
  EXPECT_THAT(plans, StatusIs(absl::StatusCode::kInvalidArgument,
                              "missing tensor 'encoder.blocks.0.attn.v_bias' (shape [8])"));
  EXPECT_THAT(plans, StatusIs(absl::StatusCode::kInvalidArgument,
                              "unexpected tensor 'encoder.blocks.2.norm1.weight'"));
  EXPECT_THAT(plans, StatusIs(absl::StatusCode::kInvalidArgument,
                              "tensor 'decoder.norm.bias' has dtype I32"));
}

TEST(HfNameMapTest, DropsOptimizerStateOnly) {
  const ModelDims dims = TinyPretrain();
  std::map<std::string, TensorInfo> infos = NativeInfos(dims);
  infos["optimizer.exp_avg.encoder.norm.weight"] = TensorInfo{"F32", {8}, 0, 32};
  infos["optimizer.step"] = TensorInfo{"I64", {}, 0, 8};
  auto plans = PlanHfTensors(infos, dims);
  ASSERT_OK(plans);
  for (const HfTensorPlan& p : *plans) {
    EXPECT_THAT(p.native_name, ::testing::Not(HasSubstr("optimizer")));
  }
  EXPECT_THAT(DroppedPrefixes(), ElementsAre("optimizer."));
}

TEST(HfNameMapTest, LongProblemListsAreCut) {
  ModelDims dims = TinyPretrain();
  auto plans = PlanHfTensors({}, dims);
  EXPECT_THAT(plans, StatusIs(absl::StatusCode::kInvalidArgument, "49 problems"));
  EXPECT_THAT(plans, StatusIs(absl::StatusCode::kInvalidArgument, "... and 39 more"));
}

TEST(HfNameMapTest, BlockRulesAreSharedByEncoderAndDecoder) {
  // Every per-block rule applies to both groups; the table has 13 entries
  // and only the qkv is split.
  int splits = 0;
  for (const TensorRule& rule : BlockRules()) {
    splits += rule.transform == Transform::kSplitRows3 ? 1 : 0;
  }
  EXPECT_EQ(BlockRules().size(), 13u);
  EXPECT_EQ(splits, 1);
  EXPECT_EQ(BlockGroups(ModelKind::kPretrain).size(), 2u);
  EXPECT_EQ(BlockGroups(ModelKind::kFinetune).size(), 1u);
}

}  // namespace
}  // namespace vmae::checkpoint
