#include "common/checkpoint/hf_export.h"

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/checkpoint/test_util.h"

namespace vmae::checkpoint {
namespace {

using testing::F32Bytes;
using ::testing::Pair;
using testing::ReadFile;
using testing::StatusIs;
using testing::TempDir;
using ::testing::UnorderedElementsAre;

// Tiny pre-training model: encoder depth 2, width 8 (2 heads), MLP 32;
// decoder depth 1, width 4 (1 head), MLP 16; patch 2, tubelet 2, 4 frames
// of 4x4 -> decoder head 3*2*2*2 = 24 outputs.
constexpr int64_t kD = 8;
constexpr int64_t kI = 32;
constexpr int64_t kDd = 4;
constexpr int64_t kId = 16;
constexpr int64_t kPix = 24;

HfConfigInputs TinyPretrainConfig() {
  HfConfigInputs cfg;
  cfg.kind = ModelKind::kPretrain;
  cfg.hidden_size = kD;
  cfg.depth = 2;
  cfg.heads = 2;
  cfg.mlp_ratio = 4.0;
  cfg.patch_size = 2;
  cfg.tubelet_size = 2;
  cfg.num_frames = 4;
  cfg.image_size = 4;
  cfg.decoder_hidden_size = kDd;
  cfg.decoder_depth = 1;
  cfg.decoder_heads = 1;
  cfg.normalize_target = true;
  cfg.use_mean_pooling = true;  // must be overridden to false in the export.
  return cfg;
}

struct NativeTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Block tensors with the authors' names, written out by hand.
void AddBlock(const std::string& prefix, int64_t w, int64_t mlp,
              std::vector<std::pair<std::string, std::vector<int64_t>>>* out) {
  out->push_back({prefix + "norm1.weight", {w}});
  out->push_back({prefix + "norm1.bias", {w}});
  out->push_back({prefix + "attn.qkv.weight", {3 * w, w}});
  out->push_back({prefix + "attn.q_bias", {w}});
  out->push_back({prefix + "attn.v_bias", {w}});
  out->push_back({prefix + "attn.proj.weight", {w, w}});
  out->push_back({prefix + "attn.proj.bias", {w}});
  out->push_back({prefix + "norm2.weight", {w}});
  out->push_back({prefix + "norm2.bias", {w}});
  out->push_back({prefix + "mlp.fc1.weight", {mlp, w}});
  out->push_back({prefix + "mlp.fc1.bias", {mlp}});
  out->push_back({prefix + "mlp.fc2.weight", {w, mlp}});
  out->push_back({prefix + "mlp.fc2.bias", {w}});
}

// Tensor k holds k*1000 + i at flat index i (exact in binary32).
std::map<std::string, NativeTensor> Fill(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& list) {
  std::map<std::string, NativeTensor> out;
  int k = 1;
  for (const auto& [name, shape] : list) {
    int64_t n = 1;
    for (int64_t d : shape) {
      n *= d;
    }
    NativeTensor t{shape, {}};
    for (int64_t i = 0; i < n; ++i) {
      t.values.push_back(static_cast<float>(k * 1000 + i));
    }
    out[name] = std::move(t);
    ++k;
  }
  return out;
}

std::map<std::string, NativeTensor> TinyPretrainTensors() {
  std::vector<std::pair<std::string, std::vector<int64_t>>> list = {
      {"encoder.patch_embed.proj.weight", {kD, 3, 2, 2, 2}},
      {"encoder.patch_embed.proj.bias", {kD}},
      {"encoder.norm.weight", {kD}},
      {"encoder.norm.bias", {kD}},
      {"encoder_to_decoder.weight", {kDd, kD}},
      {"mask_token", {1, 1, kDd}},
      {"decoder.norm.weight", {kDd}},
      {"decoder.norm.bias", {kDd}},
      {"decoder.head.weight", {kPix, kDd}},
      {"decoder.head.bias", {kPix}},
  };
  AddBlock("encoder.blocks.0.", kD, kI, &list);
  AddBlock("encoder.blocks.1.", kD, kI, &list);
  AddBlock("decoder.blocks.0.", kDd, kId, &list);
  return Fill(list);
}

// The HF names of VideoMAEForPreTraining for that model, written out from
// transformers' modeling_videomae.py.
std::set<std::string> TinyPretrainHfNames() {
  std::set<std::string> names = {
      "videomae.embeddings.patch_embeddings.projection.weight",
      "videomae.embeddings.patch_embeddings.projection.bias",
      "videomae.layernorm.weight",
      "videomae.layernorm.bias",
      "encoder_to_decoder.weight",
      "mask_token",
      "decoder.norm.weight",
      "decoder.norm.bias",
      "decoder.head.weight",
      "decoder.head.bias",
  };
  const char* layer[] = {
      "layernorm_before.weight",
      "layernorm_before.bias",
      "attention.attention.query.weight",
      "attention.attention.key.weight",
      "attention.attention.value.weight",
      "attention.attention.q_bias",
      "attention.attention.v_bias",
      "attention.output.dense.weight",
      "attention.output.dense.bias",
      "layernorm_after.weight",
      "layernorm_after.bias",
      "intermediate.dense.weight",
      "intermediate.dense.bias",
      "output.dense.weight",
      "output.dense.bias",
  };
  for (const char* suffix : layer) {
    names.insert(absl::StrCat("videomae.encoder.layer.0.", suffix));
    names.insert(absl::StrCat("videomae.encoder.layer.1.", suffix));
    names.insert(absl::StrCat("decoder.decoder_layers.0.", suffix));
  }
  return names;
}

// Writes `tensors` as a native checkpoint, with AdamW-like optimizer state
// when asked and "vmae.kind" metadata unless `kind` is empty.
void WriteNative(const std::string& path, const std::map<std::string, NativeTensor>& tensors,
                 const std::string& kind, bool with_optimizer) {
  SafetensorsWriter writer;
  for (const auto& [name, t] : tensors) {
    writer.Add(name, "F32", t.shape, F32Bytes(t.values));
  }
  if (with_optimizer) {
    for (const auto& [name, t] : tensors) {
      writer.Add("optimizer.exp_avg." + name, "F32", t.shape, F32Bytes(t.values));
      writer.Add("optimizer.exp_avg_sq." + name, "F32", t.shape, F32Bytes(t.values));
    }
    writer.Add("optimizer.step", "I64", {}, std::string("\x07\0\0\0\0\0\0\0", 8));
  }
  if (!kind.empty()) {
    writer.SetMetadata("vmae.kind", kind);
  }
  ASSERT_OK(writer.WriteAtomically(path));
}

nlohmann::json ReadJson(const std::string& path) { return nlohmann::json::parse(ReadFile(path)); }

class HfExportTest : public ::testing::Test {
 protected:
  TempDir dir_;
  const std::string native_ = dir_.File("native.safetensors");
  const std::string out_ = dir_.File("hf");
};

TEST_F(HfExportTest, PretrainExportRenamesSplitsAndDropsOptimizer) {
  const std::map<std::string, NativeTensor> tensors = TinyPretrainTensors();
  WriteNative(native_, tensors, "pretrain", /*with_optimizer=*/true);
  ASSERT_OK(ExportToHuggingFace(native_, TinyPretrainConfig(), out_));

  auto hf = SafetensorsFile::Open(out_ + "/model.safetensors");
  ASSERT_OK(hf);
  std::set<std::string> names;
  for (const auto& [name, info] : hf->tensors()) {
    names.insert(name);
    EXPECT_EQ(info.dtype, "F32") << name;
    EXPECT_EQ(name.find("optimizer"), std::string::npos) << name;
  }
  EXPECT_EQ(names, TinyPretrainHfNames());
  EXPECT_THAT(hf->metadata(), UnorderedElementsAre(Pair("format", "pt")));

  // query/key/value are exactly the three row blocks of qkv (values
  // computed from the fill formula, not from the exporter).
  struct Split {
    std::string native;
    std::string hf_prefix;
    int64_t w;
  };
  const Split splits[] = {
      {"encoder.blocks.0.attn.qkv.weight", "videomae.encoder.layer.0.attention.attention.", kD},
      {"encoder.blocks.1.attn.qkv.weight", "videomae.encoder.layer.1.attention.attention.", kD},
      {"decoder.blocks.0.attn.qkv.weight", "decoder.decoder_layers.0.attention.attention.", kDd},
  };
  for (const Split& s : splits) {
    const float base = tensors.at(s.native).values[0];
    const char* parts[] = {"query", "key", "value"};
    for (int p = 0; p < 3; ++p) {
      std::vector<float> expected;
      for (int64_t r = p * s.w; r < (p + 1) * s.w; ++r) {
        for (int64_t c = 0; c < s.w; ++c) {
          expected.push_back(base + static_cast<float>(r * s.w + c));
        }
      }
      const std::string name = absl::StrCat(s.hf_prefix, parts[p], ".weight");
      EXPECT_EQ(hf->tensors().at(name).shape, (std::vector<int64_t>{s.w, s.w})) << name;
      auto bytes = hf->ReadBytes(name);
      ASSERT_OK(bytes);
      EXPECT_EQ(*bytes, F32Bytes(expected)) << name;
    }
  }

  // Renamed tensors keep shape and bytes.
  const std::pair<const char*, const char*> renames[] = {
      {"videomae.embeddings.patch_embeddings.projection.weight", "encoder.patch_embed.proj.weight"},
      {"videomae.layernorm.bias", "encoder.norm.bias"},
      {"mask_token", "mask_token"},
      {"encoder_to_decoder.weight", "encoder_to_decoder.weight"},
      {"decoder.head.weight", "decoder.head.weight"},
      {"videomae.encoder.layer.1.attention.attention.q_bias", "encoder.blocks.1.attn.q_bias"},
      {"videomae.encoder.layer.1.attention.attention.v_bias", "encoder.blocks.1.attn.v_bias"},
      {"videomae.encoder.layer.0.intermediate.dense.weight", "encoder.blocks.0.mlp.fc1.weight"},
      {"videomae.encoder.layer.0.output.dense.weight", "encoder.blocks.0.mlp.fc2.weight"},
      {"decoder.decoder_layers.0.attention.output.dense.bias", "decoder.blocks.0.attn.proj.bias"},
      {"decoder.decoder_layers.0.layernorm_before.weight", "decoder.blocks.0.norm1.weight"},
  };
  for (const auto& [hf_name, native_name] : renames) {
    const NativeTensor& t = tensors.at(native_name);
    EXPECT_EQ(hf->tensors().at(hf_name).shape, t.shape) << hf_name;
    EXPECT_EQ(*hf->ReadBytes(hf_name), F32Bytes(t.values)) << hf_name;
  }
  EXPECT_FALSE(std::filesystem::exists(out_ + "/model.safetensors.tmp"));
  EXPECT_FALSE(std::filesystem::exists(out_ + "/config.json.tmp"));
}

TEST_F(HfExportTest, PretrainConfigJsonHasTheVideoMaeFields) {
  WriteNative(native_, TinyPretrainTensors(), "pretrain", /*with_optimizer=*/false);
  ASSERT_OK(ExportToHuggingFace(native_, TinyPretrainConfig(), out_));
  const nlohmann::json c = ReadJson(out_ + "/config.json");
  EXPECT_EQ(c["model_type"], "videomae");
  EXPECT_EQ(c["architectures"], nlohmann::json::array({"VideoMAEForPreTraining"}));
  EXPECT_EQ(c["image_size"], 4);
  EXPECT_EQ(c["patch_size"], 2);
  EXPECT_EQ(c["num_channels"], 3);
  EXPECT_EQ(c["num_frames"], 4);
  EXPECT_EQ(c["tubelet_size"], 2);
  EXPECT_EQ(c["hidden_size"], 8);
  EXPECT_EQ(c["num_hidden_layers"], 2);
  EXPECT_EQ(c["num_attention_heads"], 2);
  EXPECT_EQ(c["intermediate_size"], 32);
  EXPECT_EQ(c["hidden_act"], "gelu");
  EXPECT_EQ(c["qkv_bias"], true);
  EXPECT_EQ(c["use_mean_pooling"], false);
  EXPECT_EQ(c["decoder_num_attention_heads"], 1);
  EXPECT_EQ(c["decoder_hidden_size"], 4);
  EXPECT_EQ(c["decoder_num_hidden_layers"], 1);
  EXPECT_EQ(c["decoder_intermediate_size"], 16);
  EXPECT_EQ(c["norm_pix_loss"], true);
  EXPECT_DOUBLE_EQ(c["layer_norm_eps"].get<double>(), 1e-6);
  EXPECT_EQ(c["torch_dtype"], "float32");
  EXPECT_FALSE(c.contains("id2label"));
  EXPECT_FALSE(c.contains("num_labels"));
}

std::map<std::string, NativeTensor> TinyFinetuneTensors(bool mean_pooling, int64_t classes) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> list = {
      {"patch_embed.proj.weight", {kD, 3, 2, 2, 2}},
      {"patch_embed.proj.bias", {kD}},
      {"head.weight", {classes, kD}},
      {"head.bias", {classes}},
  };
  const std::string norm = mean_pooling ? "fc_norm" : "norm";
  list.push_back({norm + ".weight", {kD}});
  list.push_back({norm + ".bias", {kD}});
  AddBlock("blocks.0.", kD, kI, &list);
  AddBlock("blocks.1.", kD, kI, &list);
  return Fill(list);
}

HfConfigInputs TinyFinetuneConfig(bool mean_pooling, int64_t classes) {
  HfConfigInputs cfg = TinyPretrainConfig();
  cfg.kind = ModelKind::kFinetune;
  cfg.num_classes = classes;
  cfg.use_mean_pooling = mean_pooling;
  return cfg;
}

TEST_F(HfExportTest, FinetuneExportWithLabels) {
  const auto tensors = TinyFinetuneTensors(/*mean_pooling=*/true, 3);
  WriteNative(native_, tensors, "finetune", /*with_optimizer=*/true);
  HfConfigInputs cfg = TinyFinetuneConfig(/*mean_pooling=*/true, 3);
  cfg.labels = {"abseiling", "air drumming", "answering questions"};
  ASSERT_OK(ExportToHuggingFace(native_, cfg, out_));

  auto hf = SafetensorsFile::Open(out_ + "/model.safetensors");
  ASSERT_OK(hf);
  EXPECT_EQ(hf->tensors().size(), 6u + 2u * 15u);
  EXPECT_EQ(*hf->ReadBytes("classifier.weight"), F32Bytes(tensors.at("head.weight").values));
  EXPECT_EQ(*hf->ReadBytes("fc_norm.bias"), F32Bytes(tensors.at("fc_norm.bias").values));
  EXPECT_EQ(hf->tensors().count("videomae.layernorm.weight"), 0u);
  EXPECT_EQ(hf->tensors().count("videomae.encoder.layer.1.attention.attention.value.weight"), 1u);

  const nlohmann::json c = ReadJson(out_ + "/config.json");
  EXPECT_EQ(c["architectures"], nlohmann::json::array({"VideoMAEForVideoClassification"}));
  EXPECT_EQ(c["use_mean_pooling"], true);
  EXPECT_EQ(c["num_labels"], 3);
  EXPECT_EQ(
      c["id2label"],
      (nlohmann::json{{"0", "abseiling"}, {"1", "air drumming"}, {"2", "answering questions"}}));
  EXPECT_EQ(c["label2id"],
            (nlohmann::json{{"abseiling", 0}, {"air drumming", 1}, {"answering questions", 2}}));
}

TEST_F(HfExportTest, FinetuneWithoutMeanPoolingKeepsTheFinalNormAndDefaultLabels) {
  const auto tensors = TinyFinetuneTensors(/*mean_pooling=*/false, 2);
  WriteNative(native_, tensors, "finetune", /*with_optimizer=*/false);
  ASSERT_OK(ExportToHuggingFace(native_, TinyFinetuneConfig(false, 2), out_));
  auto hf = SafetensorsFile::Open(out_ + "/model.safetensors");
  ASSERT_OK(hf);
  EXPECT_EQ(*hf->ReadBytes("videomae.layernorm.weight"),
            F32Bytes(tensors.at("norm.weight").values));
  EXPECT_EQ(hf->tensors().count("fc_norm.weight"), 0u);
  const nlohmann::json c = ReadJson(out_ + "/config.json");
  EXPECT_EQ(c["use_mean_pooling"], false);
  EXPECT_EQ(c["id2label"], (nlohmann::json{{"0", "LABEL_0"}, {"1", "LABEL_1"}}));
  EXPECT_EQ(c["label2id"], (nlohmann::json{{"LABEL_0", 0}, {"LABEL_1", 1}}));
}

TEST_F(HfExportTest, FailsNamingAMissingTensor) {
  auto tensors = TinyPretrainTensors();
  tensors.erase("decoder.blocks.0.mlp.fc2.bias");
  WriteNative(native_, tensors, "pretrain", /*with_optimizer=*/true);
  EXPECT_THAT(ExportToHuggingFace(native_, TinyPretrainConfig(), out_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "missing tensor 'decoder.blocks.0.mlp.fc2.bias'"));
  EXPECT_FALSE(std::filesystem::exists(out_ + "/model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(out_ + "/config.json"));
}

TEST_F(HfExportTest, FailsOnAQkvThatCannotBeSplit) {
  auto tensors = TinyPretrainTensors();
  NativeTensor& qkv = tensors.at("encoder.blocks.1.attn.qkv.weight");
  qkv.shape = {3 * kD + 1, kD};
  qkv.values.resize(static_cast<size_t>((3 * kD + 1) * kD), 0.0f);
  WriteNative(native_, tensors, "pretrain", /*with_optimizer=*/false);
  EXPECT_THAT(ExportToHuggingFace(native_, TinyPretrainConfig(), out_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "'encoder.blocks.1.attn.qkv.weight' has shape [25, 8], the architecture "
                       "needs [24, 8]: its rows are not divisible by 3"));
}

TEST_F(HfExportTest, FailsWhenTheConfigDoesNotMatchTheWeights) {
  WriteNative(native_, TinyPretrainTensors(), "pretrain", /*with_optimizer=*/false);
  HfConfigInputs cfg = TinyPretrainConfig();
  cfg.depth = 3;
  EXPECT_THAT(ExportToHuggingFace(native_, cfg, out_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "missing tensor 'encoder.blocks.2.attn.proj.bias'"));
  cfg = TinyPretrainConfig();
  cfg.depth = 1;
  EXPECT_THAT(ExportToHuggingFace(native_, cfg, out_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unexpected tensor 'encoder.blocks.1.attn.proj.bias'"));
}

TEST_F(HfExportTest, FailsWhenTheKindDiffersFromTheMetadata) {
  WriteNative(native_, TinyPretrainTensors(), "pretrain", /*with_optimizer=*/false);
  EXPECT_THAT(ExportToHuggingFace(native_, TinyFinetuneConfig(true, 3), out_),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       "is a pretrain checkpoint (metadata vmae.kind) but a finetune export"));
}

TEST_F(HfExportTest, UsesTheConfigKindWithoutMetadata) {
  WriteNative(native_, TinyPretrainTensors(), "", /*with_optimizer=*/false);
  EXPECT_OK(ExportToHuggingFace(native_, TinyPretrainConfig(), out_));
}

TEST_F(HfExportTest, FailsOnAMissingOrBrokenSourceFile) {
  EXPECT_THAT(ExportToHuggingFace(dir_.File("nope.safetensors"), TinyPretrainConfig(), out_),
              StatusIs(absl::StatusCode::kNotFound, "nope.safetensors"));
  testing::WriteFile(native_, "garbage");
  EXPECT_THAT(ExportToHuggingFace(native_, TinyPretrainConfig(), out_),
              StatusIs(absl::StatusCode::kDataLoss, "native.safetensors"));
}

TEST(HfConfigTest, ValidatesTheConfig) {
  HfConfigInputs cfg = TinyPretrainConfig();
  cfg.heads = 3;
  EXPECT_THAT(DimsFromConfig(cfg), StatusIs(absl::StatusCode::kInvalidArgument,
                                            "hidden_size (8) is not a multiple of heads (3)"));
  cfg = TinyPretrainConfig();
  cfg.decoder_depth = 0;
  EXPECT_THAT(DimsFromConfig(cfg),
              StatusIs(absl::StatusCode::kInvalidArgument, "decoder_depth must be positive"));
  cfg = TinyPretrainConfig();
  cfg.mlp_ratio = -1;
  EXPECT_THAT(DimsFromConfig(cfg), StatusIs(absl::StatusCode::kInvalidArgument, "mlp_ratio"));
  cfg = TinyPretrainConfig();
  cfg.image_size = 5;
  EXPECT_THAT(DimsFromConfig(cfg), StatusIs(absl::StatusCode::kInvalidArgument, "image_size"));

  HfConfigInputs ft = TinyFinetuneConfig(true, 0);
  EXPECT_THAT(DimsFromConfig(ft),
              StatusIs(absl::StatusCode::kInvalidArgument, "num_classes must be positive"));
  ft = TinyFinetuneConfig(true, 2);
  ft.labels = {"a"};
  EXPECT_THAT(DimsFromConfig(ft), StatusIs(absl::StatusCode::kInvalidArgument, "1 labels for 2"));
  ft.labels = {"a", "a"};
  EXPECT_THAT(DimsFromConfig(ft),
              StatusIs(absl::StatusCode::kInvalidArgument, "'a' appears twice"));
}

TEST(HfConfigTest, ViTGiantMlpRatioRoundsToTheAuthorsSize) {
  HfConfigInputs cfg;
  cfg.hidden_size = 1408;
  cfg.heads = 16;
  cfg.depth = 40;
  cfg.patch_size = 14;
  cfg.mlp_ratio = 48.0 / 11.0;
  cfg.decoder_hidden_size = 512;
  cfg.decoder_heads = 8;
  auto dims = DimsFromConfig(cfg);
  ASSERT_OK(dims);
  EXPECT_EQ(dims->intermediate_size, 6144);
}

TEST(HfConfigTest, DefaultsDescribeViTBase) {
  auto json = BuildHfConfigJson(HfConfigInputs{}, "");
  ASSERT_OK(json);
  const nlohmann::json c = nlohmann::json::parse(*json);
  EXPECT_EQ(c["hidden_size"], 768);
  EXPECT_EQ(c["intermediate_size"], 3072);
  EXPECT_EQ(c["decoder_intermediate_size"], 1536);
  EXPECT_EQ(c["image_size"], 224);
  EXPECT_EQ(c["num_frames"], 16);
  EXPECT_FALSE(c.contains("torch_dtype"));
}

}  // namespace
}  // namespace vmae::checkpoint
