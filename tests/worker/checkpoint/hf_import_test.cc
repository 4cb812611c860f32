// Hugging Face import against files written by hand: HF names and a
// config.json as transformers writes them, through the common safetensors
// writer. The expected authors' names and the qkv row layout are spelled out
// here from docs/checkpoint-format.md, not taken from the name map.
#include "worker/checkpoint/hf_import.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/checkpoint/test_util.h"

namespace vmae::checkpoint {
namespace {

using pth_testing::Floats;
using pth_testing::StatusIs;
using pth_testing::TempDir;
using pth_testing::WriteBytes;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// Tiny sizes: encoder width 8, MLP 32, one block, 2 heads; decoder width 4,
// MLP 16, one block; patch 2, tubelet 2, 3 channels (24 pixels per patch).
constexpr int64_t kW = 8;
constexpr int64_t kM = 32;
constexpr int64_t kDw = 4;
constexpr int64_t kDm = 16;
constexpr int64_t kPix = 3 * 2 * 2 * 2;

struct BlockPart {
  const char* hf;       // after the HF block prefix.
  const char* authors;  // after the authors' block prefix; "" for q/k/v parts.
  int kind;             // 0: [W], 1: [W, W], 2: [M, W], 3: [M], 4: [W, M].
};

// docs/checkpoint-format.md, "Name map": per block.
constexpr BlockPart kBlockParts[] = {
    {"layernorm_before.weight", "norm1.weight", 0},
    {"layernorm_before.bias", "norm1.bias", 0},
    {"attention.attention.query.weight", "", 1},
    {"attention.attention.key.weight", "", 1},
    {"attention.attention.value.weight", "", 1},
    {"attention.attention.q_bias", "attn.q_bias", 0},
    {"attention.attention.v_bias", "attn.v_bias", 0},
    {"attention.output.dense.weight", "attn.proj.weight", 1},
    {"attention.output.dense.bias", "attn.proj.bias", 0},
    {"layernorm_after.weight", "norm2.weight", 0},
    {"layernorm_after.bias", "norm2.bias", 0},
    {"intermediate.dense.weight", "mlp.fc1.weight", 2},
    {"intermediate.dense.bias", "mlp.fc1.bias", 3},
    {"output.dense.weight", "mlp.fc2.weight", 4},
    {"output.dense.bias", "mlp.fc2.bias", 0},
};

std::vector<int64_t> PartShape(int kind, int64_t w, int64_t m) {
  switch (kind) {
    case 0:
      return {w};
    case 1:
      return {w, w};
    case 2:
      return {m, w};
    case 3:
      return {m};
    default:
      return {w, m};
  }
}

// An HF safetensors file under construction, with the values it holds.
// Tensor k's element j is 1000 * k + j (exact in F32): every element of the
// file is distinct, so a misplaced row shows.
class HfFile {
 public:
  // (HF name, authors' name or "" for a qkv part).
  void Add(const std::string& hf, const std::string& authors, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) v[static_cast<size_t>(j)] = 1000.0f * count_ + j;
    ++count_;
    values_[hf] = v;
    shapes_[hf] = std::move(shape);
    if (!authors.empty()) renames_[authors] = hf;
  }
  void AddBlock(const std::string& hf_prefix, const std::string& authors_prefix, int64_t w,
                int64_t m) {
    for (const BlockPart& p : kBlockParts) {
      Add(hf_prefix + p.hf, p.authors[0] ? authors_prefix + p.authors : "",
          PartShape(p.kind, w, m));
    }
    qkv_[authors_prefix + "attn.qkv.weight"] = hf_prefix + "attention.attention.";
  }
  void Remove(const std::string& hf) {
    values_.erase(hf);
    shapes_.erase(hf);
  }
  void Reshape(const std::string& hf, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    values_[hf].assign(static_cast<size_t>(n), 0.5f);
    shapes_[hf] = std::move(shape);
  }
  // Writes model.safetensors with `dtype` ("F32", "F16" or "BF16").
  void Write(const std::string& path, const std::string& dtype = "F32") const {
    SafetensorsWriter w;
    w.SetMetadata("format", "pt");
    for (const auto& [name, v] : values_) {
      at::Tensor t =
          at::from_blob(const_cast<float*>(v.data()), {static_cast<int64_t>(v.size())}, at::kFloat)
              .clone();
      if (dtype == "F16") t = t.to(at::kHalf);
      if (dtype == "BF16") t = t.to(at::kBFloat16);
      w.Add(name, dtype, shapes_.at(name),
            std::string(static_cast<const char*>(t.data_ptr()), static_cast<size_t>(t.nbytes())));
    }
    ASSERT_OK(w.WriteAtomically(path));
  }
  const std::vector<float>& values(const std::string& hf) const { return values_.at(hf); }
  const std::map<std::string, std::string>& renames() const { return renames_; }
  const std::map<std::string, std::string>& qkv() const { return qkv_; }
  void SetSmallValues() {
    // Exact in F16 and BF16: multiples of 1/4 in [-2, 2).
    for (auto& [name, v] : values_) {
      for (size_t j = 0; j < v.size(); ++j) v[j] = static_cast<float>(j % 16) * 0.25f - 2.0f;
    }
  }

 private:
  int count_ = 0;
  std::map<std::string, std::vector<float>> values_;
  std::map<std::string, std::vector<int64_t>> shapes_;
  std::map<std::string, std::string> renames_;  // authors' -> HF.
  std::map<std::string, std::string> qkv_;      // authors' qkv -> HF attention prefix.
};

HfFile PretrainFile() {
  HfFile f;
  f.Add("videomae.embeddings.patch_embeddings.projection.weight", "encoder.patch_embed.proj.weight",
        {kW, 3, 2, 2, 2});
  f.Add("videomae.embeddings.patch_embeddings.projection.bias", "encoder.patch_embed.proj.bias",
        {kW});
  f.Add("videomae.layernorm.weight", "encoder.norm.weight", {kW});
  f.Add("videomae.layernorm.bias", "encoder.norm.bias", {kW});
  f.Add("encoder_to_decoder.weight", "encoder_to_decoder.weight", {kDw, kW});
  f.Add("mask_token", "mask_token", {1, 1, kDw});
  f.Add("decoder.norm.weight", "decoder.norm.weight", {kDw});
  f.Add("decoder.norm.bias", "decoder.norm.bias", {kDw});
  f.Add("decoder.head.weight", "decoder.head.weight", {kPix, kDw});
  f.Add("decoder.head.bias", "decoder.head.bias", {kPix});
  f.AddBlock("videomae.encoder.layer.0.", "encoder.blocks.0.", kW, kM);
  f.AddBlock("decoder.decoder_layers.0.", "decoder.blocks.0.", kDw, kDm);
  return f;
}

HfFile FinetuneFile(bool mean_pooling) {
  HfFile f;
  f.Add("videomae.embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight",
        {kW, 3, 2, 2, 2});
  f.Add("videomae.embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias", {kW});
  if (mean_pooling) {
    f.Add("fc_norm.weight", "fc_norm.weight", {kW});
    f.Add("fc_norm.bias", "fc_norm.bias", {kW});
  } else {
    f.Add("videomae.layernorm.weight", "norm.weight", {kW});
    f.Add("videomae.layernorm.bias", "norm.bias", {kW});
  }
  f.Add("classifier.weight", "head.weight", {3, kW});
  f.Add("classifier.bias", "head.bias", {3});
  f.AddBlock("videomae.encoder.layer.0.", "blocks.0.", kW, kM);
  return f;
}

// config.json as transformers' save_pretrained writes it.
constexpr char kPretrainConfig[] = R"({
  "architectures": ["VideoMAEForPreTraining"],
  "attention_probs_dropout_prob": 0.0,
  "decoder_hidden_size": 4,
  "decoder_intermediate_size": 16,
  "decoder_num_attention_heads": 2,
  "decoder_num_hidden_layers": 1,
  "hidden_act": "gelu",
  "hidden_size": 8,
  "image_size": 4,
  "intermediate_size": 32,
  "layer_norm_eps": 1e-06,
  "model_type": "videomae",
  "norm_pix_loss": false,
  "num_attention_heads": 2,
  "num_frames": 4,
  "num_hidden_layers": 1,
  "patch_size": 2,
  "torch_dtype": "float32",
  "transformers_version": "4.40.0",
  "use_mean_pooling": false
})";

std::string FinetuneConfig(bool mean_pooling) {
  return absl::StrCat(R"({
  "architectures": ["VideoMAEForVideoClassification"],
  "hidden_size": 8, "intermediate_size": 32, "num_hidden_layers": 1,
  "num_attention_heads": 2, "patch_size": 2, "image_size": 4, "num_frames": 4,
  "id2label": {"1": "b", "0": "a", "2": "c"},
  "label2id": {"a": 0, "b": 1, "c": 2},
  "model_type": "videomae", "use_mean_pooling": )",
                      mean_pooling ? "true" : "false", "}");
}

// Writes an HF checkpoint directory.
std::string WriteHfDir(const TempDir& tmp, const HfFile& file, const std::string& config,
                       const std::string& dtype = "F32") {
  file.Write(tmp.File("model.safetensors"), dtype);
  WriteBytes(tmp.File("config.json"), config);
  return tmp.path();
}

// Every authors' name the HF file should import as, with its values.
void ExpectImported(const HfFile& file, const HfImport& imported) {
  std::vector<std::string> expected_names;
  for (const auto& entry : file.renames()) expected_names.push_back(entry.first);
  for (const auto& entry : file.qkv()) expected_names.push_back(entry.first);
  std::sort(expected_names.begin(), expected_names.end());
  std::vector<std::string> names;
  for (const auto& entry : imported.tensors) names.push_back(entry.first);
  EXPECT_THAT(names, ElementsAreArray(expected_names));

  for (const auto& [authors, hf] : file.renames()) {
    SCOPED_TRACE(authors);
    ASSERT_EQ(imported.tensors.count(authors), 1u);
    EXPECT_EQ(imported.tensors.at(authors).scalar_type(), at::kFloat);
    EXPECT_THAT(Floats(imported.tensors.at(authors)), ElementsAreArray(file.values(hf)));
  }
  // Rows [0, W) are the query, [W, 2W) the key, [2W, 3W) the value.
  for (const auto& [authors, hf_prefix] : file.qkv()) {
    SCOPED_TRACE(authors);
    ASSERT_EQ(imported.tensors.count(authors), 1u);
    const at::Tensor qkv = imported.tensors.at(authors).contiguous();
    ASSERT_EQ(qkv.dim(), 2);
    const int64_t w = qkv.size(1);
    ASSERT_EQ(qkv.size(0), 3 * w);
    const float* p = qkv.data_ptr<float>();
    const char* parts[] = {"query.weight", "key.weight", "value.weight"};
    for (int part = 0; part < 3; ++part) {
      const std::vector<float>& src = file.values(hf_prefix + parts[part]);
      for (int64_t r = 0; r < w; ++r) {
        for (int64_t c = 0; c < w; ++c) {
          ASSERT_EQ(p[(part * w + r) * w + c], src[static_cast<size_t>(r * w + c)])
              << parts[part] << " row " << r << " col " << c;
        }
      }
    }
  }
}

TEST(HfImportTest, PretrainFileImportsUnderAuthorsNames) {
  TempDir tmp;
  const HfFile file = PretrainFile();
  absl::StatusOr<HfImport> imported = ImportHf(WriteHfDir(tmp, file, kPretrainConfig));
  ASSERT_OK(imported);
  ExpectImported(file, *imported);
  EXPECT_EQ(imported->source_dtype, "F32");
  const HfConfig& c = imported->config;
  EXPECT_TRUE(c.kind_from_architectures);
  EXPECT_EQ(c.dims.kind, ModelKind::kPretrain);
  EXPECT_EQ(c.inputs.hidden_size, 8);
  EXPECT_EQ(c.inputs.heads, 2);
  EXPECT_EQ(c.inputs.decoder_heads, 2);
  EXPECT_EQ(c.dims.intermediate_size, 32);
  EXPECT_EQ(c.dims.decoder_intermediate_size, 16);
  EXPECT_EQ(c.inputs.num_frames, 4);
  EXPECT_EQ(c.inputs.image_size, 4);
  EXPECT_FALSE(c.inputs.normalize_target);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-6);
}

TEST(HfImportTest, ClassifierFilesImportWithAndWithoutMeanPooling) {
  for (const bool mean_pooling : {true, false}) {
    SCOPED_TRACE(mean_pooling);
    TempDir tmp;
    const HfFile file = FinetuneFile(mean_pooling);
    absl::StatusOr<HfImport> imported =
        ImportHf(WriteHfDir(tmp, file, FinetuneConfig(mean_pooling)));
    ASSERT_OK(imported);
    ExpectImported(file, *imported);
    EXPECT_EQ(imported->tensors.count(mean_pooling ? "fc_norm.weight" : "norm.weight"), 1u);
    EXPECT_EQ(imported->config.dims.num_classes, 3);
    EXPECT_EQ(imported->config.dims.use_mean_pooling, mean_pooling);
    // id2label's keys come unordered; the labels are in index order.
    EXPECT_THAT(imported->config.inputs.labels, ElementsAreArray({"a", "b", "c"}));
  }
}

TEST(HfImportTest, HalfPrecisionWeightsConvertToTheRequestedDtype) {
  for (const char* dtype : {"F16", "BF16"}) {
    SCOPED_TRACE(dtype);
    TempDir tmp;
    HfFile file = FinetuneFile(true);
    file.SetSmallValues();
    const std::string dir = WriteHfDir(tmp, file, FinetuneConfig(true), dtype);

    absl::StatusOr<HfImport> as_f32 = ImportHf(dir);
    ASSERT_OK(as_f32);
    EXPECT_EQ(as_f32->source_dtype, dtype);
    const at::Tensor head = as_f32->tensors.at("head.weight");
    EXPECT_EQ(head.scalar_type(), at::kFloat);
    EXPECT_THAT(Floats(head), ElementsAreArray(file.values("classifier.weight")));
    EXPECT_EQ(as_f32->tensors.at("blocks.0.attn.qkv.weight").scalar_type(), at::kFloat);

    HfImportOptions keep;
    keep.dtype = std::nullopt;
    absl::StatusOr<HfImport> kept = ImportHf(dir, keep);
    ASSERT_OK(kept);
    EXPECT_EQ(kept->tensors.at("head.weight").scalar_type(),
              std::string(dtype) == "F16" ? at::kHalf : at::kBFloat16);

    HfImportOptions f64;
    f64.dtype = at::kDouble;
    absl::StatusOr<HfImport> wide = ImportHf(dir, f64);
    ASSERT_OK(wide);
    EXPECT_EQ(wide->tensors.at("fc_norm.bias").scalar_type(), at::kDouble);
    EXPECT_THAT(Floats(wide->tensors.at("fc_norm.bias")),
                ElementsAreArray(file.values("fc_norm.bias")));
  }
}

TEST(HfImportTest, KindComesFromTensorNamesWhenArchitecturesIsAbsent) {
  TempDir tmp;
  const HfFile file = PretrainFile();
  std::string config = kPretrainConfig;
  config.replace(config.find(R"("architectures": ["VideoMAEForPreTraining"],)"),
                 std::strlen(R"("architectures": ["VideoMAEForPreTraining"],)"), "");
  absl::StatusOr<HfImport> imported = ImportHf(WriteHfDir(tmp, file, config));
  ASSERT_OK(imported);
  EXPECT_FALSE(imported->config.kind_from_architectures);
  EXPECT_EQ(imported->config.dims.kind, ModelKind::kPretrain);
}

TEST(HfImportTest, ConfigDefaultsAreTransformersDefaults) {
  absl::StatusOr<HfConfig> c = ParseHfConfig(
      R"({"architectures": ["VideoMAEForVideoClassification"]})", "c.json", std::nullopt);
  ASSERT_OK(c);
  EXPECT_EQ(c->inputs.hidden_size, 768);
  EXPECT_EQ(c->inputs.depth, 12);
  EXPECT_EQ(c->inputs.heads, 12);
  EXPECT_EQ(c->dims.intermediate_size, 3072);
  EXPECT_EQ(c->inputs.patch_size, 16);
  EXPECT_EQ(c->inputs.tubelet_size, 2);
  EXPECT_EQ(c->inputs.num_frames, 16);
  EXPECT_EQ(c->inputs.image_size, 224);
  EXPECT_EQ(c->dims.num_classes, 2);  // PretrainedConfig's num_labels default.
  EXPECT_TRUE(c->dims.use_mean_pooling);
  EXPECT_DOUBLE_EQ(c->layer_norm_eps, 1e-12);

  absl::StatusOr<HfConfig> pre = ParseHfConfig("{}", "c.json", ModelKind::kPretrain);
  ASSERT_OK(pre);
  EXPECT_FALSE(pre->kind_from_architectures);
  EXPECT_EQ(pre->dims.decoder_hidden_size, 384);
  EXPECT_EQ(pre->dims.decoder_intermediate_size, 1536);
  EXPECT_EQ(pre->dims.decoder_depth, 4);
  EXPECT_EQ(pre->inputs.decoder_heads, 6);
}

TEST(HfImportTest, BadConfigsAreRefusedNamingTheFile) {
  const struct {
    const char* json;
    const char* message;
  } cases[] = {
      {"[1]", "not a JSON object"},
      {"{", "not a JSON object"},
      {R"({"model_type": "bert"})", "not 'videomae'"},
      {R"({"hidden_size": "768"})", "'hidden_size' must be an integer"},
      {R"({"qkv_bias": false})", "qkv_bias is false"},
      {R"({"num_channels": 1})", "num_channels is 1"},
      {R"({"hidden_size": 100, "intermediate_size": 400})", "not a multiple of heads"},
      {R"({"decoder_intermediate_size": 1000})", "share one MLP ratio"},
      {R"({"architectures": ["VideoMAEForVideoClassification"], "id2label": {"0": "a", "2": "b"}})",
       "id2label"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_THAT(ParseHfConfig(c.json, "dir/config.json", ModelKind::kPretrain),
                StatusIs(absl::StatusCode::kInvalidArgument, "dir/config.json"));
    EXPECT_THAT(ParseHfConfig(c.json, "dir/config.json", ModelKind::kPretrain),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message));
  }
  EXPECT_THAT(ParseHfConfig("{}", "dir/config.json", std::nullopt),
              StatusIs(absl::StatusCode::kInvalidArgument, "architectures"));
}

TEST(HfImportTest, MissingConfigIsNamed) {
  TempDir tmp;
  PretrainFile().Write(tmp.File("model.safetensors"));
  EXPECT_THAT(ImportHf(tmp.path()), StatusIs(absl::StatusCode::kNotFound, tmp.File("config.json")));
  EXPECT_THAT(ImportHf(tmp.path()), StatusIs(absl::StatusCode::kNotFound, "save_pretrained"));
}

TEST(HfImportTest, MissingTensorIsNamed) {
  TempDir tmp;
  HfFile file = PretrainFile();
  file.Remove("videomae.encoder.layer.0.attention.attention.key.weight");
  const absl::StatusOr<HfImport> r = ImportHf(WriteHfDir(tmp, file, kPretrainConfig));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument, tmp.File("model.safetensors")));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                          "missing tensor 'videomae.encoder.layer.0.attention.attention.key."
                          "weight' (shape [8, 8], becomes 'encoder.blocks.0.attn.qkv.weight')"));
}

TEST(HfImportTest, WrongShapeIsNamed) {
  TempDir tmp;
  HfFile file = PretrainFile();
  file.Reshape("decoder.decoder_layers.0.intermediate.dense.weight", {12, kDw});
  EXPECT_THAT(ImportHf(WriteHfDir(tmp, file, kPretrainConfig)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tensor 'decoder.decoder_layers.0.intermediate.dense.weight' has shape "
                       "[12, 4], the configuration needs [16, 4]"));
}

TEST(HfImportTest, PretrainWithoutFinalNormExplainsUseMeanPooling) {
  TempDir tmp;
  HfFile file = PretrainFile();
  file.Remove("videomae.layernorm.weight");
  file.Remove("videomae.layernorm.bias");
  std::string config = kPretrainConfig;
  config.replace(config.find(R"("use_mean_pooling": false)"),
                 std::strlen(R"("use_mean_pooling": false)"), R"("use_mean_pooling": true)");
  const absl::StatusOr<HfImport> r = ImportHf(WriteHfDir(tmp, file, config));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                          "missing tensor 'videomae.layernorm.weight'"));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument, "says use_mean_pooling: true"));
}

TEST(HfImportTest, UnexpectedTensorIsNamed) {
  TempDir tmp;
  HfFile file = PretrainFile();
  file.Add("videomae.encoder.layer.1.layernorm_before.weight", "", {kW});
  EXPECT_THAT(ImportHf(WriteHfDir(tmp, file, kPretrainConfig)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "unexpected tensor 'videomae.encoder.layer.1.layernorm_before.weight'"));
}

TEST(HfImportTest, ClassifierFileUnderPretrainConfigListsALimitedNumberOfProblems) {
  TempDir tmp;
  const absl::StatusOr<HfImport> r = ImportHf(WriteHfDir(tmp, FinetuneFile(true), kPretrainConfig));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument, "problems)"));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument, "... and "));
}

TEST(HfImportTest, TruncatedSafetensorsIsDataLoss) {
  TempDir tmp;
  const std::string dir = WriteHfDir(tmp, PretrainFile(), kPretrainConfig);
  const std::string path = tmp.File("model.safetensors");
  const std::string bytes = pth_testing::ReadBytes(path);
  WriteBytes(path, bytes.substr(0, bytes.size() - 100));
  EXPECT_THAT(ImportHf(dir), StatusIs(absl::StatusCode::kDataLoss, path));
}

TEST(HfImportTest, NamesClassifyTheKind) {
  std::map<std::string, TensorInfo> names;
  names["videomae.layernorm.weight"] = TensorInfo{};
  EXPECT_TRUE(HasHfNames(names));
  EXPECT_EQ(KindFromHfNames(names), std::nullopt);
  names["classifier.weight"] = TensorInfo{};
  EXPECT_EQ(KindFromHfNames(names), ModelKind::kFinetune);
  names["mask_token"] = TensorInfo{};
  EXPECT_EQ(KindFromHfNames(names), std::nullopt);  // both: undecided.
  std::map<std::string, TensorInfo> authors;
  authors["encoder.norm.weight"] = TensorInfo{};
  EXPECT_FALSE(HasHfNames(authors));
}

}  // namespace
}  // namespace vmae::checkpoint
