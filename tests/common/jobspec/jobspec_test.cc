// Presets, recipe defaults, error format, round trip and proto validation.
#include "common/jobspec/jobspec.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/jobspec/nearest_key.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/common/jobspec/test_util.h"

namespace vmae::jobspec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::IsOk;
using testing::kMinimalFinetune;
using testing::kMinimalPretrain;
using testing::StatusIs;

v1::JobSpec ParseOrDie(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecYaml(yaml, overrides);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::JobSpec();
}

std::vector<std::string> YamlFilesIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool Equal(const v1::JobSpec& a, const v1::JobSpec& b, std::string* diff) {
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(diff);
  return differencer.Compare(a, b);
}

// --- Presets and defaults (numbers from docs "VideoMAE reference") ---------

TEST(JobSpecTest, PresetTableMatchesReferenceSizes) {
  struct Want {
    const char* name;
    int dim, depth, heads, dec_dim, dec_depth, dec_heads;
  };
  const Want want[] = {
      {"vit_small", 384, 12, 6, 192, 4, 3},
      {"vit_base", 768, 12, 12, 384, 4, 6},
      {"vit_large", 1024, 24, 16, 512, 4, 8},
      {"vit_huge", 1280, 32, 16, 640, 4, 8},
  };
  ASSERT_EQ(ArchPresets().size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const ArchPreset& p = ArchPresets()[i];
    EXPECT_EQ(p.name, want[i].name);
    EXPECT_EQ(p.embed_dim, want[i].dim) << p.name;
    EXPECT_EQ(p.depth, want[i].depth) << p.name;
    EXPECT_EQ(p.num_heads, want[i].heads) << p.name;
    EXPECT_EQ(p.decoder_embed_dim, want[i].dec_dim) << p.name;
    EXPECT_EQ(p.decoder_depth, want[i].dec_depth) << p.name;
    EXPECT_EQ(p.decoder_num_heads, want[i].dec_heads) << p.name;
    EXPECT_EQ(FindArchPreset(want[i].name), &p);
  }
  EXPECT_EQ(FindArchPreset("custom"), nullptr);
  EXPECT_EQ(FindArchPreset("vit_giant"), nullptr);
}

TEST(JobSpecTest, EveryArchFillsItsPresetSizes) {
  struct Want {
    const char* arch;
    int dim, depth, heads, dec_dim, dec_heads;
  };
  for (const Want& w : {Want{"vit_small", 384, 12, 6, 192, 3}, Want{"vit_base", 768, 12, 12, 384, 6},
                        Want{"vit_large", 1024, 24, 16, 512, 8},
                        Want{"vit_huge", 1280, 32, 16, 640, 8}}) {
    const v1::JobSpec spec =
        ParseOrDie(kMinimalPretrain, {absl::StrCat("model.arch=", w.arch)});
    const v1::ModelSpec& m = spec.model();
    EXPECT_EQ(m.embed_dim(), w.dim) << w.arch;
    EXPECT_EQ(m.depth(), w.depth) << w.arch;
    EXPECT_EQ(m.num_heads(), w.heads) << w.arch;
    EXPECT_EQ(m.decoder_embed_dim(), w.dec_dim) << w.arch;
    EXPECT_EQ(m.decoder_depth(), 4) << w.arch;
    EXPECT_EQ(m.decoder_num_heads(), w.dec_heads) << w.arch;
    EXPECT_EQ(m.patch_size(), 16) << w.arch;
    EXPECT_EQ(m.tubelet_size(), 2) << w.arch;
    EXPECT_EQ(m.mlp_ratio(), 4.0) << w.arch;
    EXPECT_EQ(m.num_frames(), 16) << w.arch;
    EXPECT_EQ(m.image_size(), 224) << w.arch;
  }
}

TEST(JobSpecTest, PretrainGetsAuthorsRecipe) {
  const v1::JobSpec spec = ParseOrDie(kMinimalPretrain);
  EXPECT_EQ(spec.kind(), v1::JOB_KIND_PRETRAIN);
  EXPECT_EQ(spec.seed(), 0);
  EXPECT_EQ(spec.model().drop_path(), 0.0);
  EXPECT_EQ(spec.model().num_classes(), 0);
  ASSERT_TRUE(spec.has_pretrain());
  EXPECT_FALSE(spec.has_finetune());
  const v1::PretrainSpec& p = spec.pretrain();
  EXPECT_EQ(p.mask_type(), v1::MASK_TYPE_TUBE);
  EXPECT_EQ(p.mask_ratio(), 0.9);
  EXPECT_EQ(p.decoder_mask_type(), v1::DECODER_MASK_TYPE_NONE);
  EXPECT_EQ(p.decoder_mask_ratio(), 0.5);
  EXPECT_TRUE(p.normalize_target());
  EXPECT_EQ(p.loss(), v1::LOSS_TYPE_MSE);
  const v1::OptimizerSpec& o = spec.optimizer();
  EXPECT_EQ(o.base_lr(), 1.5e-4);
  EXPECT_EQ(o.lr(), 0.0);
  EXPECT_EQ(o.min_lr(), 1e-5);
  EXPECT_THAT(o.betas(), ElementsAre(0.9, 0.95));
  EXPECT_EQ(o.eps(), 1e-8);
  EXPECT_EQ(o.weight_decay(), 0.05);
  EXPECT_EQ(o.warmup_epochs(), 40);
  EXPECT_EQ(o.epochs(), 800);
  EXPECT_EQ(o.clip_grad(), 0.0);
  EXPECT_EQ(o.batch_size(), 32);
  const v1::DataSpec& d = spec.data();
  EXPECT_EQ(d.sampling(), "stride");
  EXPECT_EQ(d.sampling_rate(), 4);
  EXPECT_EQ(d.repeated_aug(), 1);
  EXPECT_EQ(d.decode_threads(), 4);
  EXPECT_EQ(d.max_bad_fraction(), 0.01);
  EXPECT_EQ(d.clip_timeout_seconds(), 60.0);
  EXPECT_EQ(d.val(), "");
  EXPECT_EQ(spec.checkpoint().every_steps(), 500);
  EXPECT_EQ(spec.checkpoint().keep_last(), 3);
  EXPECT_EQ(spec.eval().every_epochs(), 5);
  const v1::ResourceSpec& r = spec.resources();
  EXPECT_EQ(r.workers(), 1);
  EXPECT_EQ(r.min_workers(), 1);
  EXPECT_EQ(r.device(), "cuda");
  EXPECT_EQ(r.precision(), "bf16");
  EXPECT_EQ(r.max_restarts(), 3);
  EXPECT_EQ(r.priority(), 0);
  EXPECT_TRUE(r.selector().empty());
}

TEST(JobSpecTest, FinetuneGetsAuthorsRecipe) {
  const v1::JobSpec spec = ParseOrDie(kMinimalFinetune);
  EXPECT_EQ(spec.kind(), v1::JOB_KIND_FINETUNE);
  EXPECT_FALSE(spec.has_pretrain());
  const v1::ModelSpec& m = spec.model();
  EXPECT_EQ(m.drop_path(), 0.1);
  EXPECT_TRUE(m.use_mean_pooling());
  EXPECT_EQ(m.init_scale(), 0.001);
  EXPECT_EQ(m.head_dropout(), 0.0);
  EXPECT_EQ(m.num_classes(), 400);
  const v1::FinetuneSpec& f = spec.finetune();
  EXPECT_EQ(f.init_from(), "job://j-00ff/latest");
  EXPECT_EQ(f.layer_decay(), 0.75);
  EXPECT_EQ(f.mixup(), 0.8);
  EXPECT_EQ(f.cutmix(), 1.0);
  EXPECT_EQ(f.mixup_prob(), 1.0);
  EXPECT_EQ(f.mixup_switch_prob(), 0.5);
  EXPECT_EQ(f.label_smoothing(), 0.1);
  EXPECT_EQ(f.randaug_magnitude(), 7);
  EXPECT_EQ(f.randaug_num_ops(), 4);
  EXPECT_EQ(f.random_erase_prob(), 0.25);
  EXPECT_TRUE(f.flip());
  EXPECT_EQ(f.test_clips(), 5);
  EXPECT_EQ(f.test_crops(), 3);
  const v1::OptimizerSpec& o = spec.optimizer();
  EXPECT_EQ(o.base_lr(), 1e-3);
  EXPECT_EQ(o.min_lr(), 1e-6);
  EXPECT_THAT(o.betas(), ElementsAre(0.9, 0.999));
  EXPECT_EQ(o.eps(), 1e-8);
  EXPECT_EQ(o.weight_decay(), 0.05);
  EXPECT_EQ(o.warmup_epochs(), 5);
  EXPECT_EQ(o.epochs(), 100);
  EXPECT_EQ(o.batch_size(), 8);
  EXPECT_EQ(spec.data().sampling(), "dense");
  EXPECT_EQ(spec.data().sampling_rate(), 4);
  EXPECT_EQ(spec.data().repeated_aug(), 2);
  EXPECT_EQ(spec.eval().every_epochs(), 5);
  EXPECT_EQ(spec.resources().precision(), "bf16");
  // The decoder is unused but still concrete (the vit_base preset).
  EXPECT_EQ(m.decoder_embed_dim(), 384);
  EXPECT_EQ(m.decoder_num_heads(), 6);
}

TEST(JobSpecTest, ExplicitFieldWinsOverPreset) {
  const v1::JobSpec spec = ParseOrDie(
      absl::StrReplaceAll(kMinimalPretrain, {{"arch: vit_base", "arch: vit_base\n  depth: 6\n"
                                                                "  decoder_depth: 12"}}));
  EXPECT_EQ(spec.model().depth(), 6);
  EXPECT_EQ(spec.model().decoder_depth(), 12);
  EXPECT_EQ(spec.model().embed_dim(), 768);
  EXPECT_EQ(spec.model().num_heads(), 12);
}

TEST(JobSpecTest, ExplicitFalseAndZeroAreNotReplacedByDefaults) {
  const v1::JobSpec pre = ParseOrDie(absl::StrCat(kMinimalPretrain,
                                                  "pretrain: {normalize_target: false}\n"
                                                  "eval: {every_epochs: 0}\n"
                                                  "seed: 0\n"
                                                  "optimizer: {clip_grad: 0, warmup_epochs: 0}\n"));
  EXPECT_FALSE(pre.pretrain().normalize_target());
  EXPECT_EQ(pre.eval().every_epochs(), 0);
  EXPECT_EQ(pre.optimizer().warmup_epochs(), 0);
  const v1::JobSpec fine = ParseOrDie(
      absl::StrReplaceAll(kMinimalFinetune, {{"  init_from:", "  flip: false\n  mixup: 0\n  init_from:"},
                                             {"  num_classes: 400", "  num_classes: 400\n"
                                                                    "  use_mean_pooling: false"}}));
  EXPECT_FALSE(fine.finetune().flip());
  EXPECT_EQ(fine.finetune().mixup(), 0.0);
  EXPECT_FALSE(fine.model().use_mean_pooling());
}

TEST(JobSpecTest, CpuDeviceDefaultsToFp32AndMinWorkersToWorkers) {
  const v1::JobSpec spec =
      ParseOrDie(absl::StrCat(kMinimalPretrain, "resources: {device: cpu, workers: 3}\n"));
  EXPECT_EQ(spec.resources().precision(), "fp32");
  EXPECT_EQ(spec.resources().min_workers(), 3);
}

TEST(JobSpecTest, CustomFinetuneDerivesDecoderSize) {
  const v1::JobSpec spec = ParseOrDie(absl::StrReplaceAll(
      kMinimalFinetune, {{"arch: vit_base", "arch: custom\n  embed_dim: 270\n  depth: 2\n"
                                            "  num_heads: 3"}}));
  EXPECT_EQ(spec.model().decoder_embed_dim(), 135);
  // round(135 / 64) = 2 does not divide 135, so the next divisor down.
  EXPECT_EQ(spec.model().decoder_num_heads(), 1);
  EXPECT_EQ(spec.model().decoder_depth(), 4);
}

TEST(JobSpecTest, CustomArchListsEveryMissingSize) {
  const auto spec = ParseJobSpecYaml(
      absl::StrReplaceAll(kMinimalPretrain, {{"arch: vit_base", "arch: custom\n  depth: 2"}}));
  EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument,
                             "job.yaml:4:9: model.arch: arch custom: embed_dim, num_heads are "
                             "not given"));
  EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument,
                             "decoder_embed_dim, decoder_num_heads are not given"));
  // The missing sizes are reported once, not again as "0 is out of range".
  EXPECT_THAT(spec.status().message(), Not(HasSubstr("model.embed_dim: value 0")));
}

// --- Error messages ---------------------------------------------------------

TEST(JobSpecTest, ErrorLineHasLocationPathWhatAndExpected) {
  const auto spec = ParseJobSpecYaml(
      absl::StrReplaceAll(kMinimalPretrain, {{"arch: vit_base", "arch: vit_base\n  depth: twelve"}}),
      {}, "my.yaml");
  ASSERT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument, ""));
  EXPECT_EQ(spec.status().message(),
            "my.yaml:5:10: model.depth: 'twelve' is not a number; expected an integer");
}

TEST(JobSpecTest, ErrorsListEveryProblemInLineOrder) {
  const std::string yaml = R"(kind: pretrain
name: bad name
model:
  arch: vit_base
  depth: twelve
  num_heads: 7
data:
  root: data/k400
  train: train.csv
optimizer:
  betas: [0.9, 1.5]
resources:
  device: cpu
  precision: bf16
  wrokers: 4
)";
  const auto spec = ParseJobSpecYaml(yaml);
  ASSERT_FALSE(spec.ok());
  const std::vector<std::string> lines = absl::StrSplit(spec.status().message(), '\n');
  EXPECT_THAT(lines,
              ElementsAre(HasSubstr("job.yaml:2:7: name: 'bad name' contains ' '"),
                          HasSubstr("job.yaml:5:10: model.depth: 'twelve' is not a number"),
                          HasSubstr("job.yaml:6:14: model.num_heads: model.embed_dim (768) is "
                                    "not a multiple of model.num_heads (7)"),
                          HasSubstr("job.yaml:8:9: data.root: 'data/k400' is not an absolute "
                                    "path"),
                          HasSubstr("job.yaml:11:16: optimizer.betas[1]: value 1.5 is out of "
                                    "range; expected a number in [0, 1)"),
                          HasSubstr("job.yaml:14:14: resources.precision: precision bf16 with "
                                    "device cpu; expected fp32: use fp32 on cpu"),
                          HasSubstr("job.yaml:15:3: resources.wrokers: unknown key; expected "
                                    "one of selector, workers")));
}

TEST(JobSpecTest, UnknownKeySuggestsOnlyCloseKeys) {
  const auto close = ParseJobSpecYaml(absl::StrCat(kMinimalPretrain, "optimiser: {epochs: 3}\n"));
  EXPECT_THAT(close, StatusIs(absl::StatusCode::kInvalidArgument,
                              "optimiser: unknown key; expected one of kind, name, seed, model, "
                              "pretrain, finetune, data, optimizer, checkpoint, eval, resources; "
                              "did you mean 'optimizer'?"));
  const auto far = ParseJobSpecYaml(absl::StrCat(kMinimalPretrain, "colour: blue\n"));
  EXPECT_THAT(far, StatusIs(absl::StatusCode::kInvalidArgument, "colour: unknown key"));
  EXPECT_THAT(far.status().message(), Not(HasSubstr("did you mean")));
}

TEST(JobSpecTest, MissingKindStillReportsOtherMistakesButNotDefaults) {
  const auto spec = ParseJobSpecYaml(R"(name: t
model: {arch: vit_base, depth: 0}
data: {root: /data, train: t.csv}
)");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("job.yaml:1:1: kind: missing required field"));
  EXPECT_THAT(spec.status().message(), HasSubstr("model.depth: value 0 is out of range"));
  // Kind-specific defaults are unknown, so no complaints about them.
  EXPECT_THAT(spec.status().message(), Not(HasSubstr("optimizer.")));
  EXPECT_EQ(std::count(spec.status().message().begin(), spec.status().message().end(), '\n'), 1);
}

TEST(JobSpecTest, SyntaxErrorGivesParserMessageAndLine) {
  const auto spec = ParseJobSpecYaml("kind: pretrain\nmodel: {arch: vit_base\n", {}, "x.yaml");
  EXPECT_THAT(spec, StatusIs(absl::StatusCode::kInvalidArgument, "x.yaml:3:1: (syntax): end of map "
                                                                 "flow not found"));
}

TEST(JobSpecTest, EmptyAndNonMappingFilesAreRejected) {
  EXPECT_THAT(ParseJobSpecYaml(""),
              StatusIs(absl::StatusCode::kInvalidArgument, "job.yaml:1:1: (top level): the file is "
                                                           "empty"));
  EXPECT_THAT(ParseJobSpecYaml("# nothing\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, "the file is empty"));
  EXPECT_THAT(ParseJobSpecYaml("- a\n- b\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, "(top level): got a list; expected a "
                                                           "mapping with keys kind, name"));
}

// --- Files ------------------------------------------------------------------

TEST(JobSpecTest, ExampleConfigsLoadAndValidate) {
  const std::vector<std::string> files = YamlFilesIn(testing::SourceDir() + "/configs");
  ASSERT_GE(files.size(), 4u);
  for (const std::string& file : files) {
    const absl::StatusOr<v1::JobSpec> spec = LoadJobSpecFile(file);
    ASSERT_THAT(spec, IsOk()) << file;
    EXPECT_THAT(ValidateJobSpec(*spec), IsOk()) << file;
  }
}

TEST(JobSpecTest, VitbPretrainConfigIsTheAuthorsRecipe) {
  const auto spec = LoadJobSpecFile(testing::SourceDir() + "/configs/vitb-k400-pretrain.yaml");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->model().embed_dim(), 768);
  EXPECT_EQ(spec->pretrain().mask_type(), v1::MASK_TYPE_TUBE);
  EXPECT_EQ(spec->pretrain().mask_ratio(), 0.9);
  EXPECT_EQ(spec->data().sampling(), "stride");
  EXPECT_EQ(spec->data().sampling_rate(), 4);
  EXPECT_EQ(spec->optimizer().base_lr(), 1.5e-4);
  EXPECT_EQ(spec->optimizer().warmup_epochs(), 40);
  EXPECT_EQ(spec->optimizer().epochs(), 800);
  EXPECT_EQ(spec->optimizer().batch_size(), 32);
  EXPECT_EQ(spec->resources().workers(), 64);
  EXPECT_EQ(spec->resources().precision(), "bf16");
}

TEST(JobSpecTest, VitbFinetuneConfigIsTheAuthorsRecipe) {
  const auto spec = LoadJobSpecFile(testing::SourceDir() + "/configs/vitb-k400-finetune.yaml");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->model().num_classes(), 400);
  EXPECT_EQ(spec->optimizer().base_lr(), 5e-4);
  EXPECT_EQ(spec->optimizer().epochs(), 75);
  EXPECT_EQ(spec->optimizer().warmup_epochs(), 5);
  EXPECT_EQ(spec->finetune().layer_decay(), 0.75);
  EXPECT_EQ(spec->model().drop_path(), 0.1);
  EXPECT_EQ(spec->finetune().test_clips(), 5);
  EXPECT_EQ(spec->finetune().test_crops(), 3);
}

TEST(JobSpecTest, DemoConfigsRunOnCpu) {
  for (const char* name : {"demo-pretrain.yaml", "demo-finetune.yaml"}) {
    const auto spec = LoadJobSpecFile(testing::SourceDir() + "/configs/" + name);
    ASSERT_THAT(spec, IsOk()) << name;
    EXPECT_EQ(spec->resources().device(), "cpu") << name;
    EXPECT_EQ(spec->resources().precision(), "fp32") << name;
    EXPECT_EQ(spec->resources().workers(), 2) << name;
    EXPECT_EQ(spec->model().num_frames(), 8) << name;
    EXPECT_EQ(spec->model().image_size(), 64) << name;
    EXPECT_EQ(spec->data().root(), "/tmp/vmae-demo-data") << name;
  }
  // The demo script swaps in the pre-training job's checkpoint.
  const auto fine = LoadJobSpecFile(testing::SourceDir() + "/configs/demo-finetune.yaml",
                                    {"finetune.init_from=job://j-0a1b2c/latest"});
  ASSERT_THAT(fine, IsOk());
  EXPECT_EQ(fine->finetune().init_from(), "job://j-0a1b2c/latest");
}

TEST(JobSpecTest, ValidTestdataFilesParse) {
  const std::vector<std::string> files = YamlFilesIn(testing::TestDataDir() + "/valid");
  ASSERT_GE(files.size(), 5u);
  for (const std::string& file : files) {
    EXPECT_THAT(LoadJobSpecFile(file), IsOk()) << file;
  }
}

TEST(JobSpecTest, LabelValuesAreStringified) {
  const auto spec = LoadJobSpecFile(testing::TestDataDir() + "/valid/flow-style.yaml");
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->resources().selector().at("gpu-count"), "8");
  EXPECT_EQ(spec->resources().selector().at("spot"), "true");
  EXPECT_EQ(spec->resources().selector().at("nvidia.com/gpu.product"), "H100");
  EXPECT_EQ(spec->model().depth(), 6);
}

TEST(JobSpecTest, LoadMissingFileIsNotFoundNamingThePath) {
  const std::string path = testing::TestDataDir() + "/no-such-job.yaml";
  EXPECT_THAT(LoadJobSpecFile(path), StatusIs(absl::StatusCode::kNotFound, path));
  EXPECT_THAT(LoadJobSpecFile(testing::TestDataDir()),
              StatusIs(absl::StatusCode::kInvalidArgument, "is a directory"));
}

TEST(JobSpecTest, LoadFileLocatesErrorsByPath) {
  const std::string path = ::testing::TempDir() + "/jobspec-located.yaml";
  std::ofstream(path) << absl::StrReplaceAll(kMinimalPretrain,
                                             {{"arch: vit_base", "arch: vit_base\n  depth: x"}});
  EXPECT_THAT(LoadJobSpecFile(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                              absl::StrCat(path, ":5:10: model.depth: 'x'")));
  std::filesystem::remove(path);
}

// --- Round trip ---------------------------------------------------------------

TEST(JobSpecTest, ToYamlRoundTripsEveryConfigAndValidFile) {
  std::vector<std::string> files = YamlFilesIn(testing::SourceDir() + "/configs");
  const std::vector<std::string> valid = YamlFilesIn(testing::TestDataDir() + "/valid");
  files.insert(files.end(), valid.begin(), valid.end());
  for (const std::string& file : files) {
    const auto spec = LoadJobSpecFile(file);
    ASSERT_THAT(spec, IsOk()) << file;
    const std::string yaml = JobSpecToYaml(*spec);
    const auto again = ParseJobSpecYaml(yaml, {}, file + " (rendered)");
    ASSERT_THAT(again, IsOk()) << yaml;
    std::string diff;
    EXPECT_TRUE(Equal(*spec, *again, &diff)) << file << ":\n" << diff << "\n" << yaml;
    // Canonical: rendering the parsed rendering changes nothing.
    EXPECT_EQ(JobSpecToYaml(*again), yaml) << file;
  }
}

TEST(JobSpecTest, ToYamlKeepsAwkwardValuesExact) {
  const v1::JobSpec spec = ParseOrDie(absl::StrCat(
      "kind: pretrain\nname: \"2024\"\nseed: 9007199254740993\n"
      "model: {arch: vit_base, drop_path: 0.1234567890123456789}\n"
      "data: {root: /data/a b, train: \"true\"}\n"
      "optimizer: {base_lr: 3.0e-7, lr: 0.1, min_lr: 1e-300}\n"
      "resources: {selector: {\"yes\": \"~\", count: \"007\", z: \"a: b\"}}\n"));
  EXPECT_EQ(spec.name(), "2024");
  EXPECT_EQ(spec.data().train(), "true");
  const auto again = ParseJobSpecYaml(JobSpecToYaml(spec));
  ASSERT_THAT(again, IsOk()) << JobSpecToYaml(spec);
  std::string diff;
  EXPECT_TRUE(Equal(spec, *again, &diff)) << diff << "\n" << JobSpecToYaml(spec);
}

TEST(JobSpecTest, ToYamlOmitsTheOtherKindsSection) {
  const std::string yaml = JobSpecToYaml(ParseOrDie(kMinimalFinetune));
  EXPECT_THAT(yaml, HasSubstr("finetune:"));
  EXPECT_THAT(yaml, Not(HasSubstr("pretrain:")));
  EXPECT_THAT(yaml, HasSubstr("betas: [0.9, 0.999]"));
  EXPECT_THAT(yaml, HasSubstr("kind: finetune"));
}

TEST(JobSpecTest, ToYamlWritesNumbersPlainly) {
  const std::string yaml = JobSpecToYaml(ParseOrDie(kMinimalPretrain));
  EXPECT_THAT(yaml, HasSubstr("clip_timeout_seconds: 60.0\n"));
  EXPECT_THAT(yaml, HasSubstr("epochs: 800\n"));
  EXPECT_THAT(yaml, HasSubstr("warmup_epochs: 40.0\n"));
  EXPECT_THAT(yaml, HasSubstr("base_lr: 0.00015\n"));
  EXPECT_THAT(yaml, HasSubstr("mask_ratio: 0.9\n"));
  EXPECT_THAT(yaml, HasSubstr("mask_type: tube\n"));
}

// --- Proto validation -------------------------------------------------------------

TEST(JobSpecTest, ValidateAcceptsCompleteProto) {
  EXPECT_THAT(ValidateJobSpec(ParseOrDie(kMinimalPretrain)), IsOk());
  EXPECT_THAT(ValidateJobSpec(ParseOrDie(kMinimalFinetune)), IsOk());
}

TEST(JobSpecTest, ValidateNamesFieldPathWithoutLine) {
  v1::JobSpec spec = ParseOrDie(kMinimalPretrain);
  spec.mutable_model()->set_depth(0);
  const absl::Status status = ValidateJobSpec(spec);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               "model.depth: value 0 is out of range; expected an integer >= 1"));
  EXPECT_THAT(status.message(), Not(HasSubstr("job.yaml")));
  EXPECT_EQ(status.message().find("model.depth"), 0u);
}

TEST(JobSpecTest, ValidateFillsNoDefaults) {
  v1::JobSpec spec;
  spec.set_kind(v1::JOB_KIND_PRETRAIN);
  spec.set_name("from-python");
  spec.mutable_model()->set_arch("vit_base");
  const absl::Status status = ValidateJobSpec(spec);
  ASSERT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument, ""));
  for (const char* path : {"model.embed_dim", "pretrain.mask_type: missing required field",
                           "pretrain.mask_ratio", "data.root: missing required field",
                           "optimizer.epochs", "optimizer.betas: has 0 values",
                           "resources.device: missing required field", "checkpoint.every_steps"}) {
    EXPECT_THAT(status.message(), HasSubstr(path));
  }
}

TEST(JobSpecTest, ValidateRejectsSectionOfTheOtherKind) {
  v1::JobSpec spec = ParseOrDie(kMinimalPretrain);
  spec.mutable_finetune()->set_init_from("scratch");
  EXPECT_THAT(ValidateJobSpec(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                              "finetune: a finetune: section in a pretrain job"));
}

TEST(JobSpecTest, ValidateRejectsUnknownEnumNumber) {
  v1::JobSpec spec = ParseOrDie(kMinimalPretrain);
  spec.mutable_pretrain()->set_loss(static_cast<v1::LossType>(42));
  EXPECT_THAT(ValidateJobSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument, "pretrain.loss: unknown value 42"));
}

// --- Nearest key --------------------------------------------------------------------

TEST(JobSpecTest, EditDistanceCountsTranspositionAsOne) {
  EXPECT_EQ(internal::EditDistance("modle", "model"), 1);
  EXPECT_EQ(internal::EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(internal::EditDistance("", "abc"), 3);
  EXPECT_EQ(internal::EditDistance("same", "same"), 0);
}

TEST(JobSpecTest, NearestKeyIgnoresCaseAndDashes) {
  const std::vector<std::string> keys = {"embed_dim", "num_heads", "depth"};
  EXPECT_EQ(internal::NearestKey("num-heads", keys), "num_heads");
  EXPECT_EQ(internal::NearestKey("Depth", keys), "depth");
  EXPECT_EQ(internal::NearestKey("embedDim", keys), "embed_dim");
  EXPECT_EQ(internal::NearestKey("width", keys), std::nullopt);
}

}  // namespace
}  // namespace vmae::jobspec
