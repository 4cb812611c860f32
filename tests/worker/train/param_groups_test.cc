#include "worker/train/param_groups.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/train/test_util.h"

namespace vmae::train {
namespace {

using ::testing::ElementsAre;
using ::vmae::train::testing::StatusIs;

class ParamGroupsTest : public ::vmae::train::testing::SingleThreadTest {};

// A trainable parameter of the given rank (the size does not matter: only
// the number of dimensions decides weight decay).
torch::Tensor Param(int64_t dims) {
  std::vector<int64_t> shape(static_cast<size_t>(dims), 2);
  return torch::zeros(shape).requires_grad_(true);
}

// The fine-tuning ViT-B parameter names in the authors' named_parameters()
// order (VisionTransformer with use_mean_pooling, sinusoid pos_embed buffer,
// qkv_bias: a module's own parameters, q_bias/v_bias, come before its
// children's).
NamedParameters VitBFineTuneParameters() {
  NamedParameters params;
  params.emplace_back("patch_embed.proj.weight", Param(5));
  params.emplace_back("patch_embed.proj.bias", Param(1));
  for (int k = 0; k < 12; ++k) {
    const std::string b = absl::StrCat("blocks.", k, ".");
    params.emplace_back(b + "norm1.weight", Param(1));
    params.emplace_back(b + "norm1.bias", Param(1));
    params.emplace_back(b + "attn.q_bias", Param(1));
    params.emplace_back(b + "attn.v_bias", Param(1));
    params.emplace_back(b + "attn.qkv.weight", Param(2));
    params.emplace_back(b + "attn.proj.weight", Param(2));
    params.emplace_back(b + "attn.proj.bias", Param(1));
    params.emplace_back(b + "norm2.weight", Param(1));
    params.emplace_back(b + "norm2.bias", Param(1));
    params.emplace_back(b + "mlp.fc1.weight", Param(2));
    params.emplace_back(b + "mlp.fc1.bias", Param(1));
    params.emplace_back(b + "mlp.fc2.weight", Param(2));
    params.emplace_back(b + "mlp.fc2.bias", Param(1));
  }
  params.emplace_back("fc_norm.weight", Param(1));
  params.emplace_back("fc_norm.bias", Param(1));
  params.emplace_back("head.weight", Param(2));
  params.emplace_back("head.bias", Param(1));
  return params;
}

struct Placement {
  std::string group;
  double weight_decay;
  double lr_scale;
};

std::map<std::string, Placement> PlacementByName(const std::vector<ParamGroup>& groups) {
  std::map<std::string, Placement> out;
  for (const ParamGroup& g : groups) {
    EXPECT_EQ(g.param_names.size(), g.params.size());
    for (const std::string& name : g.param_names) {
      out[name] = Placement{g.name, g.weight_decay, g.lr_scale};
    }
  }
  return out;
}

// 0.75^n for n <= 13 is 3^n / 4^n: a small odd numerator over a power of two,
// so exact in a double (3^13 = 1594323 < 2^53), and pow() returns it exactly.
constexpr double k075Pow13 = 1594323.0 / 67108864.0;  // 3^13 / 4^13
constexpr double k075Pow12 = 531441.0 / 16777216.0;   // 3^12 / 4^12
constexpr double k075Pow1 = 0.75;

TEST_F(ParamGroupsTest, LayerDecayValuesFollowTheAuthorsAssigner) {
  // run_class_finetuning.py: num_layers = get_num_layers() = 12 blocks;
  // values = [0.75 ** (num_layers + 1 - i) for i in range(num_layers + 2)]
  // = [0.75^13, 0.75^12, ..., 0.75^1, 0.75^0]: 14 values.
  const std::vector<double> values = LayerDecayValues(0.75, 12);
  ASSERT_EQ(values.size(), 14u);
  EXPECT_EQ(values[0], k075Pow13);
  EXPECT_EQ(values[1], k075Pow12);
  EXPECT_EQ(values[12], k075Pow1);
  EXPECT_EQ(values[13], 1.0);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], std::pow(3.0, 13.0 - i) / std::pow(4.0, 13.0 - i)) << i;
  }
}

TEST_F(ParamGroupsTest, LayerIdsFollowGetNumLayerForVit) {
  // LayerDecayValueAssigner.get_layer_id calls get_num_layer_for_vit(name,
  // len(values)) with len(values) = 12 + 2 = 14, so num_max_layer - 1 = 13.
  constexpr int64_t kNumMaxLayer = 14;
  const std::map<std::string, int64_t> expected = {
      {"cls_token", 0},
      {"mask_token", 0},
      {"pos_embed", 0},
      {"patch_embed.proj.weight", 0},
      {"patch_embed.proj.bias", 0},
      {"rel_pos_bias.relative_position_bias_table", 13},  // num_max_layer - 1
      {"blocks.0.attn.qkv.weight", 1},
      {"blocks.0.norm1.weight", 1},
      {"blocks.5.mlp.fc1.bias", 6},
      {"blocks.11.mlp.fc2.weight", 12},
      // "else" is num_max_layer - 1 = 13 = depth + 1 (not depth + 2).
      {"fc_norm.weight", 13},
      {"head.weight", 13},
      {"head.bias", 13},
      {"norm.weight", 13},
      // Only exact names / these prefixes count: a pre-training name is
      // "else" (the authors never use layer decay in pre-training).
      {"encoder.blocks.0.attn.qkv.weight", 13},
      {"encoder.pos_embed", 13},
  };
  for (const auto& [name, id] : expected) {
    absl::StatusOr<int64_t> got = LayerIdForVit(name, kNumMaxLayer);
    ASSERT_OK(got);
    EXPECT_EQ(*got, id) << name;
  }
  EXPECT_THAT(LayerIdForVit("blocks", kNumMaxLayer), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LayerIdForVit("blocks.x.weight", kNumMaxLayer),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ParamGroupsTest, NoDecayForOneDimBiasesAndSkipList) {
  const std::vector<std::string> skip = {"pos_embed", "cls_token", "mask_token"};
  EXPECT_TRUE(IsNoWeightDecay("blocks.0.attn.q_bias", 1, skip));   // 1-D
  EXPECT_TRUE(IsNoWeightDecay("blocks.0.norm1.weight", 1, skip));  // 1-D
  EXPECT_TRUE(IsNoWeightDecay("blocks.0.attn.proj.bias", 1, skip));
  EXPECT_TRUE(IsNoWeightDecay("weird.bias", 3, skip));  // ".bias" suffix
  EXPECT_TRUE(IsNoWeightDecay("mask_token", 3, skip));  // [1, 1, D], skip list
  EXPECT_TRUE(IsNoWeightDecay("pos_embed", 3, skip));
  EXPECT_FALSE(IsNoWeightDecay("blocks.0.attn.qkv.weight", 2, skip));
  EXPECT_FALSE(IsNoWeightDecay("patch_embed.proj.weight", 5, skip));
  // Full-name match, as `name in skip_list` in the authors' code.
  EXPECT_FALSE(IsNoWeightDecay("encoder.pos_embed", 3, skip));
  EXPECT_FALSE(IsNoWeightDecay("q_biasx", 2, skip));
}

TEST_F(ParamGroupsTest, FineTuneVitBLayerScales) {
  ParamGroupOptions options;
  options.weight_decay = 0.05;
  options.layer_decay = 0.75;
  options.depth = 12;
  absl::StatusOr<std::vector<ParamGroup>> groups =
      BuildParamGroups(VitBFineTuneParameters(), options);
  ASSERT_OK(groups);
  const std::map<std::string, Placement> by_name = PlacementByName(*groups);
  ASSERT_EQ(by_name.size(), 2u + 12u * 13u + 4u);

  // scale = values[layer_id] = 0.75^(13 - layer_id):
  //   patch_embed.*  id 0       -> 0.75^13
  //   blocks.k.*     id k + 1   -> 0.75^(12 - k): blocks.0 0.75^12, blocks.11 0.75^1
  //   fc_norm, head  id 13      -> 0.75^0 = 1
  EXPECT_EQ(by_name.at("patch_embed.proj.weight").group, "layer_0_decay");
  EXPECT_EQ(by_name.at("patch_embed.proj.weight").lr_scale, k075Pow13);
  EXPECT_EQ(by_name.at("patch_embed.proj.weight").weight_decay, 0.05);
  EXPECT_EQ(by_name.at("patch_embed.proj.bias").group, "layer_0_no_decay");
  EXPECT_EQ(by_name.at("patch_embed.proj.bias").lr_scale, k075Pow13);
  EXPECT_EQ(by_name.at("patch_embed.proj.bias").weight_decay, 0.0);

  EXPECT_EQ(by_name.at("blocks.0.attn.qkv.weight").group, "layer_1_decay");
  EXPECT_EQ(by_name.at("blocks.0.attn.qkv.weight").lr_scale, k075Pow12);
  EXPECT_EQ(by_name.at("blocks.0.attn.q_bias").group, "layer_1_no_decay");
  EXPECT_EQ(by_name.at("blocks.0.attn.v_bias").lr_scale, k075Pow12);
  EXPECT_EQ(by_name.at("blocks.0.attn.v_bias").weight_decay, 0.0);
  EXPECT_EQ(by_name.at("blocks.5.mlp.fc1.weight").lr_scale,
            0.75 * 0.75 * 0.75 * 0.75 * 0.75 * 0.75 * 0.75);  // 0.75^(12-5)
  EXPECT_EQ(by_name.at("blocks.11.mlp.fc2.weight").group, "layer_12_decay");
  EXPECT_EQ(by_name.at("blocks.11.mlp.fc2.weight").lr_scale, k075Pow1);
  EXPECT_EQ(by_name.at("blocks.11.norm2.bias").group, "layer_12_no_decay");
  EXPECT_EQ(by_name.at("blocks.11.norm2.bias").lr_scale, k075Pow1);

  EXPECT_EQ(by_name.at("fc_norm.weight").group, "layer_13_no_decay");
  EXPECT_EQ(by_name.at("fc_norm.weight").lr_scale, 1.0);
  EXPECT_EQ(by_name.at("head.weight").group, "layer_13_decay");
  EXPECT_EQ(by_name.at("head.weight").lr_scale, 1.0);
  EXPECT_EQ(by_name.at("head.weight").weight_decay, 0.05);
  EXPECT_EQ(by_name.at("head.bias").group, "layer_13_no_decay");

  // 28 groups in first-appearance order: a block's first parameter is
  // norm1.weight (1-D), so its no_decay group comes before its decay group.
  ASSERT_EQ(groups->size(), 28u);
  std::vector<std::string> names;
  for (const ParamGroup& g : *groups) {
    names.push_back(g.name);
  }
  EXPECT_EQ(names[0], "layer_0_decay");
  EXPECT_EQ(names[1], "layer_0_no_decay");
  EXPECT_EQ(names[2], "layer_1_no_decay");
  EXPECT_EQ(names[3], "layer_1_decay");
  EXPECT_EQ(names[24], "layer_12_no_decay");
  EXPECT_EQ(names[25], "layer_12_decay");
  EXPECT_EQ(names[26], "layer_13_no_decay");
  EXPECT_EQ(names[27], "layer_13_decay");
  // Per block: 9 no_decay (norm1 x2, q_bias, v_bias, proj.bias, norm2 x2,
  // fc1.bias, fc2.bias) and 4 decay (qkv, proj, fc1, fc2 weights).
  EXPECT_EQ((*groups)[2].params.size(), 9u);
  EXPECT_EQ((*groups)[3].params.size(), 4u);
  EXPECT_THAT((*groups)[3].param_names,
              ElementsAre("blocks.0.attn.qkv.weight", "blocks.0.attn.proj.weight",
                          "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.weight"));
  EXPECT_THAT((*groups)[26].param_names,
              ElementsAre("fc_norm.weight", "fc_norm.bias", "head.bias"));
}

TEST_F(ParamGroupsTest, PretrainSplitsDecayWithoutLayerScales) {
  // The pre-training model: its own mask_token first (a module's own
  // parameters come first), then encoder, decoder, encoder_to_decoder.
  NamedParameters params;
  params.emplace_back("mask_token", Param(3));
  params.emplace_back("encoder.patch_embed.proj.weight", Param(5));
  params.emplace_back("encoder.patch_embed.proj.bias", Param(1));
  params.emplace_back("encoder.blocks.0.attn.q_bias", Param(1));
  params.emplace_back("encoder.blocks.0.attn.qkv.weight", Param(2));
  params.emplace_back("encoder.norm.weight", Param(1));
  params.emplace_back("decoder.head.weight", Param(2));
  params.emplace_back("decoder.head.bias", Param(1));
  params.emplace_back("encoder_to_decoder.weight", Param(2));
  absl::StatusOr<std::vector<ParamGroup>> groups = BuildParamGroups(params, ParamGroupOptions{});
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].name, "no_decay");
  EXPECT_EQ((*groups)[0].weight_decay, 0.0);
  EXPECT_EQ((*groups)[0].lr_scale, 1.0);
  EXPECT_THAT((*groups)[0].param_names, ElementsAre("mask_token", "encoder.patch_embed.proj.bias",
                                                    "encoder.blocks.0.attn.q_bias",
                                                    "encoder.norm.weight", "decoder.head.bias"));
  EXPECT_EQ((*groups)[1].name, "decay");
  EXPECT_EQ((*groups)[1].weight_decay, 0.05);
  EXPECT_EQ((*groups)[1].lr_scale, 1.0);
  EXPECT_THAT((*groups)[1].param_names,
              ElementsAre("encoder.patch_embed.proj.weight", "encoder.blocks.0.attn.qkv.weight",
                          "decoder.head.weight", "encoder_to_decoder.weight"));
  // The groups hold the same tensors (no copies).
  EXPECT_TRUE((*groups)[0].params[0].is_same(params[0].second));
}

TEST_F(ParamGroupsTest, FrozenParametersAreLeftOut) {
  NamedParameters params;
  params.emplace_back("patch_embed.proj.weight", Param(5).requires_grad_(false));
  params.emplace_back("head.weight", Param(2));
  absl::StatusOr<std::vector<ParamGroup>> groups = BuildParamGroups(params, ParamGroupOptions{});
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_THAT((*groups)[0].param_names, ElementsAre("head.weight"));
}

TEST_F(ParamGroupsTest, LayerDecayOfOneKeepsPlainGroups) {
  // The authors build the assigner only when layer_decay < 1.0.
  ParamGroupOptions options;
  options.layer_decay = 1.0;
  absl::StatusOr<std::vector<ParamGroup>> groups =
      BuildParamGroups(VitBFineTuneParameters(), options);
  ASSERT_OK(groups);
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].name, "decay");
  EXPECT_EQ((*groups)[1].name, "no_decay");
}

TEST_F(ParamGroupsTest, RejectsLayerPastTheValuesAndBadOptions) {
  ParamGroupOptions options;
  options.layer_decay = 0.75;
  options.depth = 2;  // values for ids 0..3
  NamedParameters params;
  params.emplace_back("blocks.5.attn.qkv.weight", Param(2));  // id 6: IndexError
  EXPECT_THAT(BuildParamGroups(params, options), StatusIs(absl::StatusCode::kInvalidArgument));

  options.depth = 12;
  options.layer_decay = -0.5;
  EXPECT_THAT(BuildParamGroups(params, options), StatusIs(absl::StatusCode::kInvalidArgument));
  options.layer_decay = 0.75;
  options.weight_decay = -1.0;
  EXPECT_THAT(BuildParamGroups(params, options), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmae::train
