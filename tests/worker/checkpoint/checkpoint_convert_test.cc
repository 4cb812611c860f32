// Conversion: native -> Hugging Face -> native round trips are bit-exact
// (checked by loading the result into a fresh vmae::model with LoadNative
// and by comparing raw tensor bytes), the HF file's query/key/value are the
// known rows of the fused qkv, steps carry over, and a failed write leaves
// nothing behind.
#include "worker/checkpoint/checkpoint_convert.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/worker/checkpoint/test_util.h"
#include "tests/worker/checkpoint/tiny_model.h"
#include "worker/checkpoint/checkpoint_loader.h"
#include "worker/checkpoint/native/native_checkpoint.h"
#include "worker/model/classifier.h"
#include "worker/model/options.h"
#include "worker/model/pretrain_model.h"

namespace vmae::checkpoint {
namespace {

using pth_testing::Fixture;
using pth_testing::Floats;
using pth_testing::RawF32;
using pth_testing::ReadBytes;
using pth_testing::StatusIs;
using pth_testing::TempDir;
using pth_testing::WriteBytes;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

using pth_testing::Randomize;
using pth_testing::TinyOptions;

NativeManifest Manifest(const std::string& kind, const std::string& job_spec) {
  NativeManifest m;
  m.kind = kind;
  m.step = 7;
  m.samples_seen = 56;
  m.data_cursor.epoch = 2;
  m.data_cursor.position = 9;
  m.job_spec_json = job_spec;
  m.provenance.git_hash = "abc";
  return m;
}

constexpr char kHeadsJobSpec[] =
    R"({"model":{"embed_dim":32,"num_heads":4,"decoder_num_heads":4}})";

LoadedCheckpoint Load(const std::string& path) {
  absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(path);
  EXPECT_OK(c);
  return c.ok() ? *std::move(c) : LoadedCheckpoint();
}

// Every tensor's raw bytes.
std::map<std::string, std::string> TensorBytes(const std::string& safetensors) {
  std::map<std::string, std::string> out;
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(safetensors);
  EXPECT_OK(f);
  if (!f.ok()) return out;
  for (const auto& entry : f->tensors()) out[entry.first] = *f->ReadBytes(entry.first);
  return out;
}

std::vector<float> HfFloats(const SafetensorsFile& f, const std::string& name) {
  const std::string bytes = *f.ReadBytes(name);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

nlohmann::json ReadJson(const std::string& path) { return nlohmann::json::parse(ReadBytes(path)); }

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// native (dir1) -> HF (dir2) -> native (dir3), then dir3 into a fresh model.
void RoundTrip(torch::nn::Module& original, torch::nn::Module& fresh, const std::string& kind,
               const TempDir& tmp) {
  const std::string dir1 = tmp.File("native1");
  const std::string dir2 = tmp.File("hf");
  const std::string dir3 = tmp.File("native2");
  ASSERT_OK(SaveNative(dir1, original, nullptr, Manifest(kind, kHeadsJobSpec)));
  const LoadedCheckpoint native = Load(dir1);
  ASSERT_OK(WriteHfCheckpoint(native, HfExportSettings(), dir2));
  EXPECT_THAT(DirEntries(dir2), ElementsAre("config.json", "model.safetensors"));
  const LoadedCheckpoint hf = Load(dir2);
  EXPECT_EQ(hf.format, CheckpointFormat::kHf);
  ASSERT_OK(WriteNativeCheckpoint(hf, dir3));
  EXPECT_THAT(DirEntries(dir3), ElementsAre("manifest.json", "model.safetensors"));

  absl::StatusOr<NativeManifest> m = LoadNative(dir3, fresh, nullptr);
  ASSERT_OK(m);
  EXPECT_EQ(m->kind, kind);
  EXPECT_EQ(m->step, 0);  // a Hugging Face checkpoint has no step.
  const auto fresh_params = fresh.named_parameters();
  for (const auto& item : original.named_parameters()) {
    SCOPED_TRACE(item.key());
    EXPECT_TRUE(torch::equal(item.value(), fresh_params[item.key()]));
  }
  // Byte for byte, tensor by tensor.
  EXPECT_EQ(TensorBytes(dir1 + "/model.safetensors"), TensorBytes(dir3 + "/model.safetensors"));
}

TEST(CheckpointConvertTest, PretrainRoundTripNativeHfNativeIsBitExact) {
  TempDir tmp;
  model::PretrainVisionTransformer a(TinyOptions());
  model::PretrainVisionTransformer b(TinyOptions());
  Randomize(*a, 1);
  Randomize(*b, 2);
  RoundTrip(*a, *b, "pretrain", tmp);

  const nlohmann::json config = ReadJson(tmp.File("hf/config.json"));
  EXPECT_EQ(config["architectures"][0], "VideoMAEForPreTraining");
  EXPECT_EQ(config["hidden_size"], 32);
  EXPECT_EQ(config["num_hidden_layers"], 2);
  EXPECT_EQ(config["num_attention_heads"], 4);
  EXPECT_EQ(config["intermediate_size"], 128);
  EXPECT_EQ(config["decoder_hidden_size"], 32);
  EXPECT_EQ(config["decoder_num_hidden_layers"], 1);
  EXPECT_EQ(config["decoder_num_attention_heads"], 4);
  EXPECT_EQ(config["use_mean_pooling"], false);
  EXPECT_EQ(config["patch_size"], 16);
}

TEST(CheckpointConvertTest, ClassifierRoundTripsAreBitExact) {
  for (const bool mean_pooling : {true, false}) {
    SCOPED_TRACE(mean_pooling);
    TempDir tmp;
    model::VisionTransformer a(TinyOptions().use_mean_pooling(mean_pooling));
    model::VisionTransformer b(TinyOptions().use_mean_pooling(mean_pooling));
    Randomize(*a, 3);
    Randomize(*b, 4);
    RoundTrip(*a, *b, "finetune", tmp);
    const nlohmann::json config = ReadJson(tmp.File("hf/config.json"));
    EXPECT_EQ(config["architectures"][0], "VideoMAEForVideoClassification");
    EXPECT_EQ(config["use_mean_pooling"], mean_pooling);
    EXPECT_EQ(config["num_labels"], 5);
  }
}

TEST(CheckpointConvertTest, HfQueryKeyValueAreTheRowsOfTheFusedQkv) {
  TempDir tmp;
  model::PretrainVisionTransformer a(TinyOptions());
  Randomize(*a, 8);
  ASSERT_OK(SaveNative(tmp.File("n"), *a, nullptr, Manifest("pretrain", kHeadsJobSpec)));
  ASSERT_OK(WriteHfCheckpoint(Load(tmp.File("n")), HfExportSettings(), tmp.File("hf")));
  absl::StatusOr<SafetensorsFile> f = SafetensorsFile::Open(tmp.File("hf/model.safetensors"));
  ASSERT_OK(f);
  const auto params = a->named_parameters();
  const struct {
    const char* authors;
    const char* hf;
  } blocks[] = {
      {"encoder.blocks.1.attn.qkv.weight", "videomae.encoder.layer.1.attention.attention."},
      {"decoder.blocks.0.attn.qkv.weight", "decoder.decoder_layers.0.attention.attention."}};
  for (const auto& blk : blocks) {
    SCOPED_TRACE(blk.authors);
    const torch::Tensor qkv = params[blk.authors].detach().contiguous();
    const int64_t w = 32;
    const float* p = qkv.data_ptr<float>();
    const char* parts[] = {"query.weight", "key.weight", "value.weight"};
    for (int part = 0; part < 3; ++part) {
      const std::vector<float> hf = HfFloats(*f, absl::StrCat(blk.hf, parts[part]));
      ASSERT_EQ(hf.size(), static_cast<size_t>(w * w));
      for (int64_t r = 0; r < w; ++r) {
        for (int64_t c = 0; c < w; ++c) {
          ASSERT_EQ(hf[static_cast<size_t>(r * w + c)], p[(part * w + r) * w + c])
              << parts[part] << " row " << r;
        }
      }
    }
  }
}

TEST(CheckpointConvertTest, NativeToNativeKeepsTheManifest) {
  TempDir tmp;
  model::VisionTransformer a(TinyOptions());
  Randomize(*a, 9);
  const NativeManifest source = Manifest("finetune", kHeadsJobSpec);
  ASSERT_OK(SaveNative(tmp.File("a"), *a, nullptr, source));
  ASSERT_OK(WriteNativeCheckpoint(Load(tmp.File("a")), tmp.File("b")));
  const LoadedCheckpoint b = Load(tmp.File("b"));
  ASSERT_TRUE(b.manifest.has_value());
  EXPECT_EQ(b.manifest->step, 7);
  EXPECT_EQ(b.manifest->samples_seen, 56);
  EXPECT_EQ(b.manifest->data_cursor.epoch, 2);
  EXPECT_EQ(b.manifest->data_cursor.position, 9);
  EXPECT_EQ(b.manifest->provenance.git_hash, "abc");
  EXPECT_EQ(b.dims.num_heads, 4);
}

TEST(CheckpointConvertTest, HfToNativeRecordsTheHeadsInTheJobSpec) {
  TempDir tmp;
  model::PretrainVisionTransformer a(TinyOptions());
  ASSERT_OK(SaveNative(tmp.File("n"), *a, nullptr, Manifest("pretrain", "{}")));
  HfExportSettings settings;
  settings.num_heads = 4;
  settings.decoder_num_heads = 2;
  settings.num_frames = 4;
  settings.image_size = 32;
  settings.normalize_target = false;
  ASSERT_OK(WriteHfCheckpoint(Load(tmp.File("n")), settings, tmp.File("hf")));
  const nlohmann::json config = ReadJson(tmp.File("hf/config.json"));
  EXPECT_EQ(config["num_attention_heads"], 4);
  EXPECT_EQ(config["decoder_num_attention_heads"], 2);
  EXPECT_EQ(config["norm_pix_loss"], false);
  EXPECT_EQ(config["num_frames"], 4);

  ASSERT_OK(WriteNativeCheckpoint(Load(tmp.File("hf")), tmp.File("back")));
  const LoadedCheckpoint back = Load(tmp.File("back"));
  EXPECT_EQ(back.dims.num_heads, 4);
  EXPECT_EQ(back.dims.decoder_num_heads, 2);
  EXPECT_EQ(back.dims.num_frames, 4);
  EXPECT_EQ(back.dims.image_size, 32);
  // And to HF again without settings: the same config.
  ASSERT_OK(WriteHfCheckpoint(back, HfExportSettings(), tmp.File("hf2")));
  EXPECT_EQ(ReadJson(tmp.File("hf2/config.json")), config);
}

TEST(CheckpointConvertTest, UnknownHeadsAreRefusedAndNothingIsWritten) {
  TempDir tmp;
  model::VisionTransformer a(TinyOptions());
  ASSERT_OK(SaveNative(tmp.File("n"), *a, nullptr, Manifest("finetune", "{}")));
  const std::string out = tmp.File("out/hf");
  EXPECT_THAT(WriteHfCheckpoint(Load(tmp.File("n")), HfExportSettings(), out),
              StatusIs(absl::StatusCode::kInvalidArgument, "num_heads"));
  EXPECT_FALSE(std::filesystem::exists(out));
  // Neither does a refusal once the heads are known (labels that do not
  // match the classes).
  HfExportSettings bad;
  bad.num_heads = 4;
  bad.labels = {"only-one"};
  EXPECT_THAT(WriteHfCheckpoint(Load(tmp.File("n")), bad, out),
              StatusIs(absl::StatusCode::kInvalidArgument, "labels"));
  EXPECT_FALSE(std::filesystem::exists(out));
  if (std::filesystem::exists(tmp.File("out"))) {
    EXPECT_THAT(DirEntries(tmp.File("out")), IsEmpty());
  }
}

TEST(CheckpointConvertTest, ExistingDirectoriesAreReplacedFileByFileOrRefused) {
  TempDir tmp;
  model::VisionTransformer a(TinyOptions());
  Randomize(*a, 10);
  ASSERT_OK(SaveNative(tmp.File("n"), *a, nullptr, Manifest("finetune", kHeadsJobSpec)));
  const LoadedCheckpoint c = Load(tmp.File("n"));

  // The same format again into the same directory: replaced.
  ASSERT_OK(WriteNativeCheckpoint(c, tmp.File("out")));
  ASSERT_OK(WriteNativeCheckpoint(c, tmp.File("out")));
  EXPECT_THAT(DirEntries(tmp.File("out")), ElementsAre("manifest.json", "model.safetensors"));
  EXPECT_THAT(DirEntries(tmp.path()), ElementsAre("n", "out"));  // no staging left.

  // HF into a native directory would leave a mixed directory: refused, untouched.
  const std::string before = ReadBytes(tmp.File("out/model.safetensors"));
  EXPECT_THAT(WriteHfCheckpoint(c, HfExportSettings(), tmp.File("out")),
              StatusIs(absl::StatusCode::kFailedPrecondition, "manifest.json"));
  EXPECT_EQ(ReadBytes(tmp.File("out/model.safetensors")), before);

  // A file in the way.
  WriteBytes(tmp.File("file"), "x");
  EXPECT_THAT(WriteNativeCheckpoint(c, tmp.File("file")),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not a directory"));
}

TEST(CheckpointConvertTest, IncompleteCheckpointsAreNotWritten) {
  TempDir tmp;
  model::VisionTransformer a(TinyOptions());
  ASSERT_OK(SaveNative(tmp.File("n"), *a, nullptr, Manifest("finetune", kHeadsJobSpec)));
  LoadOptions lax;
  lax.strict = false;
  absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(tmp.File("n"), lax);
  ASSERT_OK(c);
  EXPECT_THAT(WriteNativeCheckpoint(*c, tmp.File("out")),
              StatusIs(absl::StatusCode::kFailedPrecondition, "strict"));
  EXPECT_FALSE(std::filesystem::exists(tmp.File("out")));
}

TEST(CheckpointConvertTest, StandardHeadsFollowTheAuthorsSizes) {
  EXPECT_EQ(StandardNumHeads(384), 6);    // ViT-S; ViT-B decoder.
  EXPECT_EQ(StandardNumHeads(768), 12);   // ViT-B.
  EXPECT_EQ(StandardNumHeads(1024), 16);  // ViT-L.
  EXPECT_EQ(StandardNumHeads(1280), 16);  // ViT-H (head_dim 80).
  EXPECT_EQ(StandardNumHeads(1408), 16);  // ViT-g.
  EXPECT_EQ(StandardNumHeads(192), 3);    // ViT-S decoder.
  EXPECT_EQ(StandardNumHeads(512), 8);    // ViT-L decoder.
  EXPECT_EQ(StandardNumHeads(640), 8);    // ViT-H decoder.
  EXPECT_EQ(StandardNumHeads(32), 0);
}

TEST(CheckpointConvertTest, AuthorsPthConvertsToNativeThatOurModelLoads) {
  VMAE_REQUIRE_FIXTURES();
  TempDir tmp;
  const LoadedCheckpoint c = Load(Fixture("tiny_finetune.pth"));
  ASSERT_OK(WriteNativeCheckpoint(c, tmp.File("n")));
  model::VisionTransformer m(TinyOptions());
  absl::StatusOr<NativeManifest> manifest = LoadNative(tmp.File("n"), *m, nullptr);
  ASSERT_OK(manifest);
  EXPECT_EQ(manifest->kind, "finetune");
  EXPECT_THAT(Floats(m->named_parameters()["blocks.1.attn.qkv.weight"]),
              ElementsAreArray(RawF32("tiny_finetune.blocks.1.attn.qkv.weight")));
  HfExportSettings s;
  s.num_heads = 4;
  ASSERT_OK(WriteHfCheckpoint(c, s, tmp.File("hf")));
  const LoadedCheckpoint hf = Load(tmp.File("hf"));
  EXPECT_TRUE(torch::equal(hf.state_dict.at("head.weight"), c.state_dict.at("head.weight")));
}

}  // namespace
}  // namespace vmae::checkpoint
