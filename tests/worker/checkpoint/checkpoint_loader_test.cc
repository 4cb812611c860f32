// The format-detecting loader: detection of each format, architecture read
// off tiny models built with vmae::model (their known sizes written out
// here), parameter counts against the model's own numel sum, strict checks,
// and `.pth` files written by Python torch (make_fixtures.py; those tests
// skip without /usr/bin/python3 and torch).
#include "worker/checkpoint/checkpoint_loader.h"

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/checkpoint/test_util.h"
#include "tests/worker/checkpoint/tiny_model.h"
#include "worker/checkpoint/checkpoint_convert.h"
#include "worker/checkpoint/native/native_checkpoint.h"
#include "worker/model/classifier.h"
#include "worker/model/options.h"
#include "worker/model/pretrain_model.h"

namespace vmae::checkpoint {
namespace {

// One LibTorch thread for the whole binary (the build machine has 2 cores).
[[maybe_unused]] ::testing::Environment* const kOneThread =
    ::testing::AddGlobalTestEnvironment(new pth_testing::OneThreadEnvironment);

using pth_testing::Fixture;
using pth_testing::Floats;
using pth_testing::RawF32;
using pth_testing::StatusIs;
using pth_testing::TempDir;
using pth_testing::WriteBytes;
using ::testing::Contains;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

using pth_testing::Randomize;
using pth_testing::TinyOptions;

int64_t ModelNumel(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

NativeManifest Manifest(const std::string& kind, const std::string& job_spec) {
  NativeManifest m;
  m.kind = kind;
  m.step = 3;
  m.samples_seen = 6;
  m.job_spec_json = job_spec;
  return m;
}

constexpr char kTinyJobSpec[] =
    R"({"kind":"JOB_KIND_PRETRAIN","model":{"arch":"custom","embed_dim":32,"num_heads":4,)"
    R"("decoder_num_heads":4,"num_frames":4,"image_size":32}})";

std::string SubDir(const TempDir& tmp, const std::string& name) {
  const std::string dir = tmp.File(name);
  std::filesystem::create_directories(dir);
  return dir;
}

// A native model.safetensors written by hand from named tensors.
void WriteNativeFile(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                     const std::string& kind) {
  SafetensorsWriter w;
  if (!kind.empty()) w.SetMetadata("vmae.kind", kind);
  for (const auto& [name, t] : tensors) {
    const torch::Tensor c = t.detach().contiguous();
    w.Add(name, "F32", c.sizes().vec(),
          std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes())));
  }
  ASSERT_OK(w.WriteAtomically(path));
}

std::map<std::string, torch::Tensor> NamedParams(const torch::nn::Module& m) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : m.named_parameters()) out.emplace(item.key(), item.value());
  return out;
}

void ExpectStateDictEqualsModel(const LoadedCheckpoint& ckpt, const torch::nn::Module& m) {
  const auto params = NamedParams(m);
  ASSERT_EQ(ckpt.state_dict.size(), params.size());
  for (const auto& [name, p] : params) {
    SCOPED_TRACE(name);
    ASSERT_EQ(ckpt.state_dict.count(name), 1u);
    EXPECT_TRUE(torch::equal(ckpt.state_dict.at(name), p.detach()));
  }
}

struct SavedPretrain {
  model::PretrainVisionTransformer model{nullptr};
  std::string dir;
};

SavedPretrain SavePretrain(const TempDir& tmp, const std::string& name,
                           const std::string& job_spec = kTinyJobSpec) {
  SavedPretrain s;
  s.model = model::PretrainVisionTransformer(TinyOptions());
  Randomize(*s.model, 11);
  s.dir = tmp.File(name);
  EXPECT_OK(SaveNative(s.dir, *s.model, nullptr, Manifest("pretrain", job_spec)));
  return s;
}

TEST(CheckpointLoaderTest, DetectsNativeDirectoryAndFile) {
  TempDir tmp;
  const SavedPretrain s = SavePretrain(tmp, "native");
  absl::StatusOr<DetectedCheckpoint> d = DetectCheckpoint(s.dir);
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kNative);
  EXPECT_EQ(d->model_file, s.dir + "/model.safetensors");
  EXPECT_EQ(d->manifest_file, s.dir + "/manifest.json");
  EXPECT_EQ(CheckpointFormatName(d->format), "native");

  d = DetectCheckpoint(s.dir + "/model.safetensors");
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kNative);
  EXPECT_EQ(d->manifest_file, s.dir + "/manifest.json");

  // A model.safetensors without its manifest, alone in a directory.
  const std::string bare = SubDir(tmp, "bare");
  std::filesystem::copy_file(s.dir + "/model.safetensors", bare + "/model.safetensors");
  d = DetectCheckpoint(bare);
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kNative);
  EXPECT_EQ(d->manifest_file, "");
  absl::StatusOr<LoadedCheckpoint> loaded = LoadCheckpoint(bare);
  ASSERT_OK(loaded);
  EXPECT_FALSE(loaded->manifest.has_value());
  EXPECT_EQ(loaded->kind, ModelKind::kPretrain);
}

TEST(CheckpointLoaderTest, DetectsHuggingFaceDirectoryAndFile) {
  TempDir tmp;
  const SavedPretrain s = SavePretrain(tmp, "native");
  absl::StatusOr<LoadedCheckpoint> native = LoadCheckpoint(s.dir);
  ASSERT_OK(native);
  const std::string hf = tmp.File("hf");
  ASSERT_OK(WriteHfCheckpoint(*native, HfExportSettings(), hf));

  absl::StatusOr<DetectedCheckpoint> d = DetectCheckpoint(hf);
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kHf);
  EXPECT_EQ(d->config_file, hf + "/config.json");
  EXPECT_EQ(CheckpointFormatName(d->format), "hf");
  d = DetectCheckpoint(hf + "/model.safetensors");
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kHf);
  EXPECT_EQ(d->config_file, hf + "/config.json");

  // HF names without config.json next to them.
  std::filesystem::remove(hf + "/config.json");
  EXPECT_THAT(DetectCheckpoint(hf),
              StatusIs(absl::StatusCode::kNotFound, hf + "/config.json: missing"));
  EXPECT_THAT(LoadCheckpoint(hf + "/model.safetensors"),
              StatusIs(absl::StatusCode::kNotFound, hf + "/config.json: missing"));
}

TEST(CheckpointLoaderTest, DetectsPthFiles) {
  TempDir tmp;
  // Detection reads the zip magic or the extension, not the contents.
  WriteBytes(tmp.File("a.bin"), std::string("PK\x03\x04", 4) + "rest");
  absl::StatusOr<DetectedCheckpoint> d = DetectCheckpoint(tmp.File("a.bin"));
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kPth);
  EXPECT_EQ(CheckpointFormatName(d->format), "pth");
  WriteBytes(tmp.File("legacy.pt"), "\x80\x02not a zip");
  d = DetectCheckpoint(tmp.File("legacy.pt"));
  ASSERT_OK(d);
  EXPECT_EQ(d->format, CheckpointFormat::kPth);
  EXPECT_EQ(d->model_file, tmp.File("legacy.pt"));
}

TEST(CheckpointLoaderTest, NothingRecognisableIsRefusedNamingThePath) {
  TempDir tmp;
  const std::string empty = SubDir(tmp, "empty");
  EXPECT_THAT(DetectCheckpoint(empty),
              StatusIs(absl::StatusCode::kInvalidArgument, empty + ": not a checkpoint directory"));
  const std::string other = SubDir(tmp, "other");
  WriteBytes(other + "/notes.txt", "hello");
  EXPECT_THAT(LoadCheckpoint(other),
              StatusIs(absl::StatusCode::kInvalidArgument, other + ": not a checkpoint directory"));
  EXPECT_THAT(LoadCheckpoint(other + "/notes.txt"),
              StatusIs(absl::StatusCode::kDataLoss, other + "/notes.txt"));
  EXPECT_THAT(LoadCheckpoint(tmp.File("nope")),
              StatusIs(absl::StatusCode::kNotFound, tmp.File("nope")));
  // A manifest without its weights.
  const std::string half = SubDir(tmp, "half");
  WriteBytes(half + "/manifest.json", "{}");
  EXPECT_THAT(LoadCheckpoint(half),
              StatusIs(absl::StatusCode::kNotFound, half + "/model.safetensors: missing"));
}

TEST(CheckpointLoaderTest, LoadsNativePretrainWithItsArchitecture) {
  TempDir tmp;
  const SavedPretrain s = SavePretrain(tmp, "native");
  absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(s.dir);
  ASSERT_OK(c);
  EXPECT_EQ(c->format, CheckpointFormat::kNative);
  EXPECT_EQ(c->kind, ModelKind::kPretrain);
  EXPECT_TRUE(c->complete);
  EXPECT_EQ(c->source_dtype, "F32");
  ASSERT_TRUE(c->manifest.has_value());
  EXPECT_EQ(c->manifest->step, 3);
  EXPECT_EQ(c->manifest->samples_seen, 6);
  ExpectStateDictEqualsModel(*c, *s.model);

  const CheckpointDims& d = c->dims;
  EXPECT_EQ(d.embed_dim, 32);
  EXPECT_EQ(d.depth, 2);
  EXPECT_EQ(d.num_heads, 4);  // from the job spec.
  EXPECT_EQ(d.mlp_hidden, 128);
  EXPECT_DOUBLE_EQ(d.mlp_ratio(), 4.0);
  EXPECT_EQ(d.in_chans, 3);
  EXPECT_EQ(d.patch_size, 16);
  EXPECT_EQ(d.tubelet_size, 2);
  EXPECT_EQ(d.decoder_embed_dim, 32);
  EXPECT_EQ(d.decoder_depth, 1);
  EXPECT_EQ(d.decoder_num_heads, 4);
  EXPECT_EQ(d.decoder_mlp_hidden, 128);
  EXPECT_EQ(d.num_classes, 0);
  EXPECT_EQ(d.num_frames, 4);
  EXPECT_EQ(d.image_size, 32);

  EXPECT_EQ(c->num_parameters, ModelNumel(*s.model));
  // Written out: patch embed 32*3*2*16*16 + 32; per block of width W and
  // MLP 4W: 2W + 3W*W + 2W + W*W + W + 2W + 4W*W + 4W + 4W*W + W;
  // encoder norm 2*32; encoder_to_decoder 32*32; mask token 32; decoder
  // norm 64; head 1536*32 + 1536.
  const int64_t w = 32;
  const int64_t block =
      2 * w + 3 * w * w + 2 * w + w * w + w + 2 * w + 4 * w * w + 4 * w + 4 * w * w + w;
  EXPECT_EQ(c->num_parameters,
            (32 * 3 * 2 * 16 * 16 + 32) + 3 * block + 64 + 32 * 32 + 32 + 64 + (1536 * 32 + 1536));
}

TEST(CheckpointLoaderTest, LoadsNativeClassifiersWithAndWithoutMeanPooling) {
  for (const bool mean_pooling : {true, false}) {
    SCOPED_TRACE(mean_pooling);
    TempDir tmp;
    model::VisionTransformer m(TinyOptions().use_mean_pooling(mean_pooling));
    Randomize(*m, 5);
    ASSERT_OK(SaveNative(tmp.File("ft"), *m, nullptr, Manifest("finetune", "{}")));
    absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(tmp.File("ft"));
    ASSERT_OK(c);
    EXPECT_EQ(c->kind, ModelKind::kFinetune);
    ExpectStateDictEqualsModel(*c, *m);
    EXPECT_EQ(c->dims.embed_dim, 32);
    EXPECT_EQ(c->dims.depth, 2);
    EXPECT_EQ(c->dims.num_heads, 0);  // not stored anywhere.
    EXPECT_EQ(c->dims.mlp_hidden, 128);
    EXPECT_EQ(c->dims.num_classes, 5);
    EXPECT_EQ(c->dims.use_mean_pooling, mean_pooling);
    EXPECT_EQ(c->dims.decoder_depth, 0);
    EXPECT_EQ(c->num_parameters, ModelNumel(*m));
  }
}

TEST(CheckpointLoaderTest, DtypeOptionConvertsOrKeeps) {
  TempDir tmp;
  const SavedPretrain s = SavePretrain(tmp, "native");
  LoadOptions opt;
  opt.dtype = at::kDouble;
  absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(s.dir, opt);
  ASSERT_OK(c);
  EXPECT_EQ(c->state_dict.at("mask_token").scalar_type(), at::kDouble);
  EXPECT_EQ(c->source_dtype, "F32");
  opt.dtype = std::nullopt;
  c = LoadCheckpoint(s.dir, opt);
  ASSERT_OK(c);
  EXPECT_EQ(c->state_dict.at("mask_token").scalar_type(), at::kFloat);
}

TEST(CheckpointLoaderTest, OptimizerStateIsLeftOutWithANote) {
  TempDir tmp;
  model::VisionTransformer m(TinyOptions());
  auto tensors = NamedParams(*m);
  tensors["optimizer.exp_avg.head.weight"] = torch::zeros({5, 32});
  const std::string dir = SubDir(tmp, "opt");
  WriteNativeFile(dir + "/model.safetensors", tensors, "finetune");
  absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(dir);
  ASSERT_OK(c);
  EXPECT_EQ(c->state_dict.count("optimizer.exp_avg.head.weight"), 0u);
  EXPECT_EQ(c->num_parameters, ModelNumel(*m));
  EXPECT_THAT(c->notes, Contains(HasSubstr("optimizer state (1 tensors) not loaded")));
}

TEST(CheckpointLoaderTest, StrictLoadNamesMissingUnexpectedAndMisshapenTensors) {
  TempDir tmp;
  model::VisionTransformer m(TinyOptions());
  const auto params = NamedParams(*m);

  auto missing = params;
  missing.erase("blocks.1.norm2.bias");
  const std::string d1 = SubDir(tmp, "missing");
  WriteNativeFile(d1 + "/model.safetensors", missing, "finetune");
  EXPECT_THAT(LoadCheckpoint(d1),
              StatusIs(absl::StatusCode::kInvalidArgument, d1 + "/model.safetensors"));
  EXPECT_THAT(LoadCheckpoint(d1),
              StatusIs(absl::StatusCode::kInvalidArgument, "missing tensor 'blocks.1.norm2.bias'"));
  // Without the strict check it loads, marked incomplete.
  LoadOptions lax;
  lax.strict = false;
  absl::StatusOr<LoadedCheckpoint> partial = LoadCheckpoint(d1, lax);
  ASSERT_OK(partial);
  EXPECT_FALSE(partial->complete);
  EXPECT_EQ(partial->dims.depth, 2);

  auto unexpected = params;
  unexpected["blocks.0.attn.k_bias"] = torch::zeros({32});
  const std::string d2 = SubDir(tmp, "unexpected");
  WriteNativeFile(d2 + "/model.safetensors", unexpected, "finetune");
  EXPECT_THAT(LoadCheckpoint(d2), StatusIs(absl::StatusCode::kInvalidArgument,
                                           "unexpected tensor 'blocks.0.attn.k_bias'"));

  auto misshapen = params;
  misshapen["blocks.1.mlp.fc1.weight"] = torch::zeros({64, 32});
  const std::string d3 = SubDir(tmp, "misshapen");
  WriteNativeFile(d3 + "/model.safetensors", misshapen, "finetune");
  EXPECT_THAT(LoadCheckpoint(d3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "tensor 'blocks.1.mlp.fc1.weight' has shape [64, 32], the architecture "
                       "needs [128, 32]"));

  // A gap in the block numbers.
  auto gap = params;
  for (auto it = gap.begin(); it != gap.end();) {
    it = it->first.rfind("blocks.0.", 0) == 0 ? gap.erase(it) : std::next(it);
  }
  const std::string d4 = SubDir(tmp, "gap");
  WriteNativeFile(d4 + "/model.safetensors", gap, "finetune");
  EXPECT_THAT(LoadCheckpoint(d4),
              StatusIs(absl::StatusCode::kInvalidArgument, "block 0 has no tensors"));
}

TEST(CheckpointLoaderTest, KindMismatchBetweenManifestAndWeightsIsRefused) {
  TempDir tmp;
  const SavedPretrain s = SavePretrain(tmp, "native");
  absl::StatusOr<std::string> json = NativeManifestToJson(Manifest("finetune", "{}"));
  ASSERT_OK(json);
  WriteBytes(s.dir + "/manifest.json", *json);
  EXPECT_THAT(LoadCheckpoint(s.dir),
              StatusIs(absl::StatusCode::kFailedPrecondition, s.dir + "/model.safetensors"));
}

TEST(CheckpointLoaderTest, TruncatedNativeSafetensorsIsDataLoss) {
  TempDir tmp;
  const SavedPretrain s = SavePretrain(tmp, "native");
  const std::string path = s.dir + "/model.safetensors";
  const std::string bytes = pth_testing::ReadBytes(path);
  WriteBytes(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_THAT(LoadCheckpoint(s.dir), StatusIs(absl::StatusCode::kDataLoss, path));
}

TEST(CheckpointLoaderTest, KindFromNames) {
  std::map<std::string, at::Tensor> sd;
  EXPECT_THAT(KindFromNames(sd, "f"), StatusIs(absl::StatusCode::kInvalidArgument, "f: no "));
  sd["mask_token"] = at::zeros({1});
  EXPECT_EQ(*KindFromNames(sd, "f"), ModelKind::kPretrain);
  sd["head.weight"] = at::zeros({1});
  EXPECT_THAT(KindFromNames(sd, "f"), StatusIs(absl::StatusCode::kInvalidArgument, "mix"));
  sd.erase("mask_token");
  EXPECT_EQ(*KindFromNames(sd, "f"), ModelKind::kFinetune);
}

TEST(CheckpointLoaderTest, LoadsAuthorsFinetunedPth) {
  VMAE_REQUIRE_FIXTURES();
  const std::string path = Fixture("tiny_finetune.pth");
  absl::StatusOr<LoadedCheckpoint> c = LoadCheckpoint(path);
  ASSERT_OK(c);
  EXPECT_EQ(c->format, CheckpointFormat::kPth);
  EXPECT_EQ(c->kind, ModelKind::kFinetune);
  EXPECT_TRUE(c->complete);
  EXPECT_FALSE(c->manifest.has_value());
  EXPECT_THAT(c->notes, Contains(HasSubstr("'module'")));
  EXPECT_EQ(c->dims.embed_dim, 32);
  EXPECT_EQ(c->dims.depth, 2);
  EXPECT_EQ(c->dims.mlp_hidden, 128);
  EXPECT_EQ(c->dims.num_classes, 5);
  EXPECT_TRUE(c->dims.use_mean_pooling);
  for (const char* name : {"blocks.1.attn.qkv.weight", "head.weight", "fc_norm.bias"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(Floats(c->state_dict.at(name)),
                ElementsAreArray(RawF32(absl::StrCat("tiny_finetune.", name))));
  }
  // The same sizes as our classifier built with them.
  model::VisionTransformer m(TinyOptions());
  EXPECT_EQ(c->num_parameters, ModelNumel(*m));
}

TEST(CheckpointLoaderTest, LoadsAuthorsPretrainPthWholeOrAsFinetuningInit) {
  VMAE_REQUIRE_FIXTURES();
  const std::string path = Fixture("tiny_pretrain.pth");
  absl::StatusOr<LoadedCheckpoint> whole = LoadCheckpoint(path);
  ASSERT_OK(whole);
  EXPECT_EQ(whole->kind, ModelKind::kPretrain);
  EXPECT_TRUE(whole->complete);
  EXPECT_EQ(whole->dims.decoder_depth, 1);
  EXPECT_EQ(whole->dims.decoder_embed_dim, 32);
  EXPECT_THAT(whole->notes, Contains(HasSubstr("epoch")));
  model::PretrainVisionTransformer m(TinyOptions());
  EXPECT_EQ(whole->num_parameters, ModelNumel(*m));

  // The fine-tuning init keeps the encoder under the classifier's names.
  LoadOptions init;
  init.pth = ImportOptions::ForFinetuning();
  EXPECT_THAT(LoadCheckpoint(path, init),
              StatusIs(absl::StatusCode::kInvalidArgument, "head.weight"));
  init.strict = false;
  absl::StatusOr<LoadedCheckpoint> backbone = LoadCheckpoint(path, init);
  ASSERT_OK(backbone);
  EXPECT_EQ(backbone->kind, ModelKind::kFinetune);
  EXPECT_FALSE(backbone->complete);
  EXPECT_EQ(backbone->dims.embed_dim, 32);
  EXPECT_EQ(backbone->dims.depth, 2);
  EXPECT_EQ(backbone->dims.num_classes, 0);
  for (const auto& entry : backbone->state_dict) {
    EXPECT_TRUE(entry.first.rfind("patch_embed.", 0) == 0 || entry.first.rfind("blocks.", 0) == 0)
        << entry.first;
  }
  EXPECT_THAT(Floats(backbone->state_dict.at("blocks.0.mlp.fc1.weight")),
              ElementsAreArray(RawF32("tiny_pretrain.encoder.blocks.0.mlp.fc1.weight")));
}

}  // namespace
}  // namespace vmae::checkpoint
