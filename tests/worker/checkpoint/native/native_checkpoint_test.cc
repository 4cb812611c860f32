#include "worker/checkpoint/native/native_checkpoint.h"

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/checkpoint/hf_name_map.h"
#include "common/checkpoint/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "tests/worker/checkpoint/tiny_model.h"
#include "worker/model/masking.h"
#include "worker/model/options.h"
#include "worker/model/pretrain_model.h"
#include "worker/model/target.h"
#include "worker/train/optimizer.h"
#include "worker/train/param_groups.h"

namespace vmae::checkpoint {
namespace {

using ::testing::HasSubstr;
// Only pre-training models here, so the shared options' class count is unused.
using pth_testing::TinyOptions;

// A fresh directory named after the running test, inside one temporary
// folder that is removed with everything in it when the test binary exits.
std::string TestDir() {
  static const vmae::testing::TempDir root;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(root.path()) / info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

struct Batch {
  torch::Tensor videos;
  torch::Tensor mask;
};

std::vector<Batch> MakeBatches(int n) {
  const model::ModelOptions o = TinyOptions();
  std::vector<Batch> batches;
  for (int i = 0; i < n; ++i) {
    at::Generator gen = model::MakeGenerator(1000 + static_cast<uint64_t>(i));
    Batch b;
    b.videos = torch::randn({2, 3, o.num_frames(), o.image_size(), o.image_size()}, gen);
    b.mask = model::MaskBatch(model::MaskType::kTube, 2, model::GridOf(o), 0.5, gen);
    batches.push_back(b);
  }
  return batches;
}

struct Trainer {
  model::PretrainVisionTransformer model{nullptr};
  std::optional<train::GroupedAdamW> opt;
};

Trainer MakeTrainer(uint64_t seed) {
  torch::manual_seed(seed);
  Trainer t;
  t.model = model::PretrainVisionTransformer(TinyOptions());
  train::NamedParameters named;
  for (const auto& item : t.model->named_parameters()) named.emplace_back(item.key(), item.value());
  train::ParamGroupOptions group_options;
  group_options.depth = 2;
  absl::StatusOr<std::vector<train::ParamGroup>> groups = train::BuildParamGroups(named, group_options);
  EXPECT_TRUE(groups.ok()) << groups.status();
  train::AdamWConfig config;
  config.beta2 = 0.95;
  absl::StatusOr<train::GroupedAdamW> opt = train::GroupedAdamW::Create(*groups, config);
  EXPECT_TRUE(opt.ok()) << opt.status();
  t.opt.emplace(*std::move(opt));
  return t;
}

float TrainStep(Trainer& t, const Batch& b, int step_index) {
  const model::ModelOptions o = TinyOptions();
  train::ApplySchedule(*t.opt, 1e-3 * (1.0 + 0.1 * step_index), 0.05);
  t.opt->ZeroGrad();
  torch::Tensor pred = t.model->forward(b.videos, b.mask);
  torch::Tensor target =
      model::ReconstructionTarget(b.videos, o.tubelet_size(), o.patch_size(), true);
  torch::Tensor loss = model::ReconstructionLoss(pred, target, b.mask);
  loss.backward();
  t.opt->Step();
  return loss.item<float>();
}

NativeManifest SampleManifest() {
  NativeManifest m;
  m.kind = "pretrain";
  m.step = 3;
  m.samples_seen = 6;
  m.data_cursor.epoch = 1;
  m.data_cursor.position = 42;
  m.schedule.samples_seen = 6;
  m.schedule.optimizer_step = 3;
  m.job_spec_json = R"({"kind":"JOB_KIND_PRETRAIN","name":"k400-b","model":{"arch":"vit_base"}})";
  m.provenance.version = "0.1.0";
  m.provenance.git_hash = "0f3c2a1d9e";
  m.provenance.data_list_sha256 = "9b71d224bd62f378";
  m.provenance.data_list_length = 240436;
  return m;
}

void ExpectManifestEq(const NativeManifest& a, const NativeManifest& b) {
  EXPECT_EQ(a.format_version, b.format_version);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.samples_seen, b.samples_seen);
  EXPECT_EQ(a.data_cursor.epoch, b.data_cursor.epoch);
  EXPECT_EQ(a.data_cursor.position, b.data_cursor.position);
  EXPECT_EQ(a.schedule.samples_seen, b.schedule.samples_seen);
  EXPECT_EQ(a.schedule.optimizer_step, b.schedule.optimizer_step);
  EXPECT_EQ(a.job_spec_json, b.job_spec_json);
  EXPECT_EQ(a.provenance.version, b.provenance.version);
  EXPECT_EQ(a.provenance.git_hash, b.provenance.git_hash);
  EXPECT_EQ(a.provenance.data_list_sha256, b.provenance.data_list_sha256);
  EXPECT_EQ(a.provenance.data_list_length, b.provenance.data_list_length);
}

// Rewrites dir/model.safetensors with `edit` applied to each tensor:
// returns false to drop it, or may change the shape and bytes.
template <typename Edit>
void RewriteModelFile(const std::string& dir, Edit edit) {
  const std::string path = dir + "/model.safetensors";
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  SafetensorsWriter writer;
  for (const auto& [k, v] : file->metadata()) writer.SetMetadata(k, v);
  for (const auto& [name, info] : file->tensors()) {
    absl::StatusOr<std::string> bytes = file->ReadBytes(name);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    std::vector<int64_t> shape = info.shape;
    std::string data = *bytes;
    if (!edit(name, shape, data)) continue;
    writer.Add(name, info.dtype, shape, data);
  }
  absl::Status s = writer.WriteAtomically(path);
  ASSERT_TRUE(s.ok()) << s;
}

TEST(NativeCheckpointTest, ResumeIsBitExact) {
  at::set_num_threads(1);
  const std::string dir = TestDir();
  const std::vector<Batch> batches = MakeBatches(6);

  Trainer a = MakeTrainer(7);
  for (int i = 0; i < 3; ++i) TrainStep(a, batches[static_cast<size_t>(i)], i);
  absl::Status s = SaveNative(dir, *a.model, &*a.opt, SampleManifest());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(std::filesystem::exists(dir + "/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/manifest.json"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/model.safetensors.tmp"));
  std::vector<float> losses_a;
  for (int i = 3; i < 6; ++i) losses_a.push_back(TrainStep(a, batches[static_cast<size_t>(i)], i));

  Trainer b = MakeTrainer(99);  // different init: everything must come from the file.
  absl::StatusOr<NativeManifest> m = LoadNative(dir, *b.model, &*b.opt);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<float> losses_b;
  for (int i = 3; i < 6; ++i) losses_b.push_back(TrainStep(b, batches[static_cast<size_t>(i)], i));

  ASSERT_EQ(losses_a.size(), losses_b.size());
  for (size_t i = 0; i < losses_a.size(); ++i) {
    EXPECT_EQ(losses_a[i], losses_b[i]) << "step " << i + 3;
  }
  auto pa = a.model->named_parameters();
  auto pb = b.model->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    const torch::Tensor* other = pb.find(item.key());
    ASSERT_NE(other, nullptr) << item.key();
    EXPECT_TRUE(torch::equal(item.value(), *other)) << item.key();
  }
  // AdamW step counts continue from the checkpoint.
  for (const auto& item : pb) {
    auto it = b.opt->adamw().state().find(
        c10::guts::to_string(item.value().unsafeGetTensorImpl()));
    ASSERT_NE(it, b.opt->adamw().state().end()) << item.key();
    EXPECT_EQ(static_cast<torch::optim::AdamWParamState&>(*it->second).step(), 6) << item.key();
  }
}

TEST(NativeCheckpointTest, FileLayoutAndManifestRoundTrip) {
  at::set_num_threads(1);
  const std::string dir = TestDir();
  Trainer a = MakeTrainer(3);
  TrainStep(a, MakeBatches(1)[0], 0);
  const NativeManifest manifest = SampleManifest();
  ASSERT_TRUE(SaveNative(dir, *a.model, &*a.opt, manifest).ok());

  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->metadata().at("vmae.kind"), "pretrain");
  EXPECT_EQ(file->metadata().at("format_version"), "1");
  for (const auto& item : a.model->named_parameters()) {
    const std::string& name = item.key();
    ASSERT_EQ(file->tensors().count(name), 1u) << name;
    EXPECT_EQ(file->tensors().at(name).dtype, "F32");
    EXPECT_EQ(file->tensors().at(name).shape, item.value().sizes().vec());
    EXPECT_EQ(file->tensors().at("optimizer.exp_avg." + name).shape, item.value().sizes().vec());
    EXPECT_EQ(file->tensors().at("optimizer.exp_avg_sq." + name).dtype, "F32");
    const TensorInfo& step = file->tensors().at("optimizer.step." + name);
    EXPECT_EQ(step.dtype, "I64");
    EXPECT_TRUE(step.shape.empty());
  }
  EXPECT_EQ(file->tensors().count("encoder.blocks.1.attn.q_bias"), 1u);
  EXPECT_EQ(file->tensors().count("mask_token"), 1u);

  Trainer b = MakeTrainer(4);
  absl::StatusOr<NativeManifest> loaded = LoadNative(dir, *b.model, &*b.opt);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectManifestEq(*loaded, manifest);

  // Text round trip on its own.
  absl::StatusOr<std::string> text = NativeManifestToJson(manifest);
  ASSERT_TRUE(text.ok());
  absl::StatusOr<NativeManifest> parsed = ParseNativeManifest(*text, "m.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectManifestEq(*parsed, manifest);
}

TEST(NativeCheckpointTest, ManifestErrors) {
  absl::StatusOr<NativeManifest> m = ParseNativeManifest(R"({"format_version": 2})", "x.json");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kFailedPrecondition);
  m = ParseNativeManifest(R"({"format_version": 1, "kind": "pretrain"})", "x.json");
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("x.json"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("step"));
  NativeManifest bad = SampleManifest();
  bad.job_spec_json = "{not json";
  EXPECT_EQ(NativeManifestToJson(bad).status().code(), absl::StatusCode::kInvalidArgument);
  bad = SampleManifest();
  bad.kind = "other";
  EXPECT_FALSE(NativeManifestToJson(bad).ok());
}

TEST(NativeCheckpointTest, MissingTensorIsRejectedByName) {
  at::set_num_threads(1);
  const std::string dir = TestDir();
  Trainer a = MakeTrainer(5);
  TrainStep(a, MakeBatches(1)[0], 0);
  ASSERT_TRUE(SaveNative(dir, *a.model, &*a.opt, SampleManifest()).ok());
  RewriteModelFile(dir, [](const std::string& name, std::vector<int64_t>&, std::string&) {
    return name != "encoder.blocks.0.mlp.fc1.bias";
  });
  Trainer b = MakeTrainer(6);
  const torch::Tensor before = b.model->named_parameters()["encoder.norm.weight"].clone();
  absl::StatusOr<NativeManifest> m = LoadNative(dir, *b.model, &*b.opt);
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("missing"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("encoder.blocks.0.mlp.fc1.bias"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("model.safetensors"));
  // Nothing was changed.
  EXPECT_TRUE(torch::equal(before, b.model->named_parameters()["encoder.norm.weight"]));
  EXPECT_TRUE(b.opt->adamw().state().empty());
}

TEST(NativeCheckpointTest, WrongShapeAndUnexpectedTensorsAreRejectedByName) {
  at::set_num_threads(1);
  const std::string dir = TestDir();
  Trainer a = MakeTrainer(5);
  ASSERT_TRUE(SaveNative(dir, *a.model, &*a.opt, SampleManifest()).ok());
  RewriteModelFile(dir, [](const std::string& name, std::vector<int64_t>& shape,
                           std::string& bytes) {
    if (name == "decoder.head.bias") {  // [1536] -> [2, 768]
      shape = {2, shape[0] / 2};
    }
    (void)bytes;
    return true;
  });
  Trainer b = MakeTrainer(6);
  absl::StatusOr<NativeManifest> m = LoadNative(dir, *b.model, &*b.opt);
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("mismatched"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("decoder.head.bias"));

  RewriteModelFile(dir, [](const std::string& name, std::vector<int64_t>& shape, std::string&) {
    if (name == "decoder.head.bias") shape = {shape[0] * shape[1]};
    return true;
  });
  ASSERT_TRUE(LoadNative(dir, *b.model, &*b.opt).ok());
  RewriteModelFile(dir, [](const std::string&, std::vector<int64_t>&, std::string&) {
    return true;
  });
  // An extra tensor outside `optimizer.`.
  {
    absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(dir + "/model.safetensors");
    ASSERT_TRUE(file.ok());
    SafetensorsWriter writer;
    for (const auto& [k, v] : file->metadata()) writer.SetMetadata(k, v);
    for (const auto& [name, info] : file->tensors()) {
      writer.Add(name, info.dtype, info.shape, *file->ReadBytes(name));
    }
    writer.Add("encoder.pos_embed", "F32", {1}, std::string(4, '\0'));
    ASSERT_TRUE(writer.WriteAtomically(dir + "/model.safetensors").ok());
  }
  m = LoadNative(dir, *b.model, &*b.opt);
  ASSERT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("unexpected"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("encoder.pos_embed"));
}

TEST(NativeCheckpointTest, DtypeIsConvertedOnLoad) {
  at::set_num_threads(1);
  const std::string dir = TestDir();
  Trainer a = MakeTrainer(8);
  a.model->to(torch::kBFloat16);
  ASSERT_TRUE(SaveNative(dir, *a.model, nullptr, SampleManifest()).ok());
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->tensors().at("mask_token").dtype, "BF16");
  for (const auto& [name, info] : file->tensors()) {
    EXPECT_FALSE(name.rfind("optimizer.", 0) == 0) << name;
  }
  Trainer b = MakeTrainer(9);
  ASSERT_TRUE(LoadNative(dir, *b.model, &*b.opt).ok());
  auto pa = a.model->named_parameters();
  for (const auto& item : b.model->named_parameters()) {
    EXPECT_EQ(item.value().scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::equal(item.value(), pa[item.key()].to(torch::kFloat))) << item.key();
  }
  EXPECT_TRUE(b.opt->adamw().state().empty());
}

TEST(NativeCheckpointTest, SavedFilePassesHuggingFaceExportPlanning) {
  at::set_num_threads(1);
  const std::string dir = TestDir();
  Trainer a = MakeTrainer(10);
  TrainStep(a, MakeBatches(1)[0], 0);
  ASSERT_TRUE(SaveNative(dir, *a.model, &*a.opt, SampleManifest()).ok());
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(dir + "/model.safetensors");
  ASSERT_TRUE(file.ok());

  ModelDims dims;
  dims.kind = ModelKind::kPretrain;
  dims.hidden_size = 32;
  dims.intermediate_size = 128;
  dims.depth = 2;
  dims.num_channels = 3;
  dims.patch_size = 16;
  dims.tubelet_size = 2;
  dims.decoder_hidden_size = 32;
  dims.decoder_intermediate_size = 128;
  dims.decoder_depth = 1;
  std::set<std::string> expected;
  for (const ExpectedTensor& t : ExpectedTensors(dims)) {
    expected.insert(t.native_name);
    ASSERT_EQ(file->tensors().count(t.native_name), 1u) << t.native_name;
  }
  std::set<std::string> saved;
  for (const auto& [name, info] : file->tensors()) {
    if (name.rfind("optimizer.", 0) != 0) saved.insert(name);
  }
  EXPECT_EQ(saved, expected);
  absl::StatusOr<std::vector<HfTensorPlan>> plan = PlanHfTensors(file->tensors(), dims);
  EXPECT_TRUE(plan.ok()) << plan.status();
}

TEST(NativeCheckpointTest, MissingDirectoryNamesTheFile) {
  Trainer b = MakeTrainer(1);
  absl::StatusOr<NativeManifest> m =
      LoadNative(::testing::TempDir() + "/no_such_native_ckpt", *b.model, &*b.opt);
  EXPECT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("manifest.json"));
}

}  // namespace
}  // namespace vmae::checkpoint
