// The `vmae` binary end to end, against outputs of the authors' model
// structure computed by Debian's Python torch (make_tool_fixtures.py): same
// weights (read from their .pth layout), same clip, same mask.
#include <ATen/ATen.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"
#include "worker/tool/tensor_file.h"

namespace vmae::tool {
namespace {

using ::testing::HasSubstr;
using vmae::testing::BinaryPath;
using vmae::testing::RunCommand;
using vmae::testing::TempDir;

constexpr char kPython[] = "/usr/bin/python3";
// The tool's documented exit codes (worker/tool/exit_codes.h, `vmae --help`).
constexpr int kOk = 0, kUsage = 2, kNotFound = 5;

class ToolCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::string out;
    const int rc = RunCommand(
        {kPython, std::string(VMAE_SOURCE_DIR) + "/tests/worker/tool/make_tool_fixtures.py",
         dir_->path()},
        &out, {}, 120);
    fixtures_ok_ = rc == 0;
    fixtures_log_ = out;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!std::filesystem::exists(kPython) || !fixtures_ok_) {
      GTEST_SKIP() << "Debian's python3-torch is needed for the fixtures: " << fixtures_log_;
    }
  }

  static std::string F(const std::string& name) { return dir_->path() + "/" + name; }

  int Vmae(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin(), BinaryPath("vmae"));
    return RunCommand(args, out, {"OMP_NUM_THREADS=1"}, 120);
  }

  static at::Tensor Load(const std::string& path) {
    absl::StatusOr<at::Tensor> t = ReadTensorFile(path, "test");
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : at::Tensor();
  }

  static double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
    EXPECT_EQ(a.sizes(), b.sizes());
    if (a.sizes() != b.sizes()) return 1e9;
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
  }

  static TempDir* dir_;
  static bool fixtures_ok_;
  static std::string fixtures_log_;
};

TempDir* ToolCliTest::dir_ = nullptr;
bool ToolCliTest::fixtures_ok_ = false;
std::string ToolCliTest::fixtures_log_;

TEST_F(ToolCliTest, ReconstructMatchesTheAuthorsForwardPass) {
  TempDir work;
  const std::string out_pt = work.path() + "/recon.pt";
  std::string out;
  ASSERT_EQ(Vmae({"reconstruct", "--checkpoint", F("pretrain.pth"), "--model-config",
                  F("model.yaml"), "--tensor", F("clip.pt"), "--mask", F("mask.pt"), "--output",
                  out_pt, "--frames-dir", work.path() + "/frames"},
                 &out),
            kOk)
      << out;
  const at::Tensor expected = Load(F("expected_recon.pt"));
  const at::Tensor got = Load(out_pt);
  // [B, N_masked, 3 * tubelet * patch^2] = [2, 6, 384]: 3 of 4 positions in 2 slices.
  EXPECT_EQ(got.sizes(), (std::vector<int64_t>{2, 6, 384}));
  EXPECT_LT(MaxAbsDiff(got, expected), 1e-5);
  // Three PNGs per frame: 2 clips x 4 frames.
  int pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(work.path() + "/frames")) {
    pngs += e.path().extension() == ".png";
  }
  EXPECT_EQ(pngs, 3 * 2 * 4);
}

TEST_F(ToolCliTest, ReconstructOutputLoadsInPython) {
  TempDir work;
  const std::string out_pt = work.path() + "/recon.pt";
  std::string out;
  ASSERT_EQ(Vmae({"reconstruct", "--checkpoint", F("pretrain.pth"), "--model-config",
                  F("model.yaml"), "--tensor", F("clip.pt"), "--mask", F("mask.pt"), "--output",
                  out_pt},
                 &out),
            kOk)
      << out;
  const std::string script = absl::StrCat(
      "import torch; a = torch.load('", out_pt, "'); b = torch.load('", F("expected_recon.pt"),
      "'); d = (a - b).abs().max().item(); print(d); assert d < 1e-5, d");
  EXPECT_EQ(RunCommand({kPython, "-c", script}, &out), 0) << out;
}

TEST_F(ToolCliTest, PredictMatchesTheAuthorsLogits) {
  TempDir work;
  const std::string logits_pt = work.path() + "/logits.pt";
  std::string out;
  ASSERT_EQ(Vmae({"predict", "--checkpoint", F("finetune.pth"), "--model-config", F("model.yaml"),
                  "--tensor", F("clip.pt"), "--output", logits_pt, "--topk", "3", "-o", "json"},
                 &out),
            kOk)
      << out;
  const at::Tensor expected = Load(F("expected_logits.pt"));
  EXPECT_LT(MaxAbsDiff(Load(logits_pt), expected), 1e-5);
  const auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  ASSERT_EQ(j["clips"].size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const auto& top = j["clips"][i]["top"];
    ASSERT_EQ(top.size(), 3u);
    EXPECT_EQ(top[0]["class"].get<int64_t>(), expected[i].argmax().item<int64_t>());
    const double p0 = at::softmax(expected[i], 0).max().item<double>();
    EXPECT_NEAR(top[0]["probability"].get<double>(), p0, 1e-5);
  }
}

TEST_F(ToolCliTest, InspectCountsParametersAsPythonDoes) {
  std::ifstream counts(F("param_counts.txt"));
  int64_t pretrain_params = 0, finetune_params = 0;
  counts >> pretrain_params >> finetune_params;
  std::string out;
  ASSERT_EQ(Vmae({"inspect", F("pretrain.pth"), "-o", "json"}, &out), kOk) << out;
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["format"], "pth");
  EXPECT_EQ(j["kind"], "pretrain");
  EXPECT_EQ(j["parameters"].get<int64_t>(), pretrain_params);
  EXPECT_EQ(j["model"]["embed_dim"], 32);
  EXPECT_EQ(j["model"]["depth"], 2);
  EXPECT_EQ(j["model"]["decoder_depth"], 1);
  EXPECT_TRUE(j["complete"].get<bool>());
  ASSERT_EQ(Vmae({"inspect", F("finetune.pth"), "-o", "json"}, &out), kOk) << out;
  j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << out;
  EXPECT_EQ(j["kind"], "finetune");
  EXPECT_EQ(j["parameters"].get<int64_t>(), finetune_params);
  EXPECT_EQ(j["model"]["num_classes"], 5);
}

TEST_F(ToolCliTest, ConvertedCheckpointsPredictTheSameLogits) {
  TempDir work;
  const std::string native = work.path() + "/native";
  const std::string hf = work.path() + "/hf";
  const std::string back = work.path() + "/back";
  std::string out;
  ASSERT_EQ(Vmae({"convert", F("finetune.pth"), native, "--to", "native"}, &out), kOk) << out;
  ASSERT_EQ(Vmae({"convert", native, hf, "--to", "hf", "--num-heads", "2"}, &out), kOk) << out;
  EXPECT_TRUE(std::filesystem::exists(hf + "/config.json"));
  ASSERT_EQ(Vmae({"convert", hf, back, "--to", "native"}, &out), kOk) << out;
  const at::Tensor expected = Load(F("expected_logits.pt"));
  for (const std::string& ckpt : {native, hf, back}) {
    const std::string logits = work.path() + "/logits.pt";
    ASSERT_EQ(Vmae({"predict", "--checkpoint", ckpt, "--model-config", F("model.yaml"),
                    "--tensor", F("clip.pt"), "--output", logits},
                   &out),
              kOk)
        << ckpt << ": " << out;
    EXPECT_LT(MaxAbsDiff(Load(logits), expected), 1e-5) << ckpt;
  }
}

TEST_F(ToolCliTest, ModelConfigThatDoesNotFitTheWeightsIsAUsageError) {
  TempDir work;
  const std::string yaml = work.path() + "/deeper.yaml";
  vmae::testing::WriteFile(yaml,
                           "arch: custom\nembed_dim: 32\ndepth: 3\nnum_heads: 2\npatch_size: 8\n"
                           "num_frames: 4\nimage_size: 16\nnum_classes: 5\n");
  std::string out;
  EXPECT_EQ(Vmae({"predict", "--checkpoint", F("finetune.pth"), "--model-config", yaml,
                  "--tensor", F("clip.pt")},
                 &out),
            kUsage);
  EXPECT_THAT(out, HasSubstr("do not fit the model"));
  EXPECT_THAT(out, HasSubstr("blocks.2."));
}

TEST_F(ToolCliTest, WrongKindOfCheckpointSaysWhichVerbToUse) {
  std::string out;
  EXPECT_EQ(Vmae({"predict", "--checkpoint", F("pretrain.pth"), "--model-config", F("model.yaml"),
                  "--tensor", F("clip.pt")},
                 &out),
            kUsage);
  EXPECT_THAT(out, HasSubstr("vmae reconstruct"));
}

TEST_F(ToolCliTest, ClipOfTheWrongShapeNamesBothShapes) {
  TempDir work;
  std::string out;
  EXPECT_EQ(Vmae({"reconstruct", "--checkpoint", F("pretrain.pth"), "--model-config",
                  F("model.yaml"), "--tensor", F("mask.pt"), "--output", work.path() + "/o.pt"},
                 &out),
            kUsage);
  EXPECT_THAT(out, HasSubstr("[2, 8]"));
  EXPECT_THAT(out, HasSubstr("[B, 3, 4, 16, 16]"));
  EXPECT_FALSE(std::filesystem::exists(work.path() + "/o.pt"));
}

TEST_F(ToolCliTest, MissingCheckpointIsNotFound) {
  std::string out;
  EXPECT_EQ(Vmae({"inspect", "/nonexistent/ckpt.pth"}, &out), kNotFound);
  EXPECT_THAT(out, HasSubstr("/nonexistent/ckpt.pth"));
}

TEST_F(ToolCliTest, MisspelledFlagSuggestsTheRightOne) {
  std::string out;
  EXPECT_EQ(Vmae({"predict", "--chekpoint", F("finetune.pth")}, &out), kUsage);
  EXPECT_THAT(out, HasSubstr("did you mean --checkpoint?"));
  EXPECT_EQ(Vmae({"frobnicate"}, &out), kUsage);
  EXPECT_THAT(out, HasSubstr("vmae --help"));
}

}  // namespace
}  // namespace vmae::tool
