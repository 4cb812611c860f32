// Compares our models with the authors' architecture run by Python's torch
// (tests/worker/model/videomae_reference.py, Debian's /usr/bin/python3).
// Weights and inputs travel as raw float32 / uint8 files; the script loads
// the weights with load_state_dict(strict=True), so the key names and shapes
// must also match the authors' modules exactly.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tests/worker/model/test_util.h"
#include "worker/model/classifier.h"
#include "worker/model/masking.h"
#include "worker/model/param_count.h"
#include "worker/model/pretrain_model.h"

namespace vmae::model {
namespace {

namespace fs = std::filesystem;
using ::vmae::model::testing::MaxAbsDiff;

constexpr char kPython[] = "/usr/bin/python3";
constexpr double kTolerance = 1e-5;

bool PythonTorchAvailable() {
  const std::string cmd =
      std::string(kPython) + " -c 'import torch, numpy' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

void WriteBytes(const fs::path& path, const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous().cpu();
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(static_cast<const char*>(c.data_ptr()),
            static_cast<std::streamsize>(c.numel() * c.element_size()));
  ASSERT_TRUE(out.good()) << path;
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

void WriteWeights(const fs::path& dir, const torch::nn::Module& module) {
  std::ostringstream manifest;
  for (const auto& item : module.named_parameters()) {
    manifest << item.key();
    for (int64_t s : item.value().sizes()) {
      manifest << ' ' << s;
    }
    manifest << '\n';
    WriteBytes(dir / "weights.bin", item.value().detach().to(torch::kFloat32));
  }
  WriteText(dir / "weights.txt", manifest.str());
}

std::string ConfigText(const ModelOptions& o, const std::string& mode, int64_t batch) {
  std::ostringstream c;
  c << "mode " << mode << "\nbatch " << batch << "\nembed_dim " << o.embed_dim() << "\ndepth "
    << o.depth() << "\nnum_heads " << o.num_heads() << "\nmlp_ratio " << o.mlp_ratio()
    << "\npatch_size " << o.patch_size() << "\ntubelet_size " << o.tubelet_size()
    << "\nnum_frames " << o.num_frames() << "\nimage_size " << o.image_size() << "\nin_chans "
    << o.in_chans() << "\ndecoder_embed_dim " << o.decoder_embed_dim() << "\ndecoder_depth "
    << o.decoder_depth() << "\ndecoder_num_heads " << o.decoder_num_heads()
    << "\nnum_classes " << o.num_classes() << "\nuse_mean_pooling "
    << (o.use_mean_pooling() ? 1 : 0) << "\n";
  return c.str();
}

std::vector<std::string> ReadLines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  return lines;
}

// Shifts every parameter off its init (biases, q_bias, v_bias and LayerNorm
// included) so the comparison exercises all of them.
void Perturb(torch::nn::Module& module, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    p.add_(0.05 * torch::randn_like(p));
  }
}

class ReferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PythonTorchAvailable()) {
      GTEST_SKIP() << kPython << " with torch and numpy is not available";
    }
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("vmae_model_ref_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) {
      fs::remove_all(dir_);
    }
  }

  // Runs the script; returns its output tensor [shape from out_shape.txt].
  torch::Tensor RunReference() {
    const fs::path script = fs::path(VMAE_SOURCE_DIR) / "tests/worker/model/videomae_reference.py";
    const std::string cmd =
        std::string(kPython) + " '" + script.string() + "' '" + dir_.string() + "' 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    if (pipe == nullptr) {
      return {};
    }
    std::string log;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), pipe) != nullptr) {
      log += buf;
    }
    const int status = ::pclose(pipe);
    EXPECT_EQ(status, 0) << "reference script failed:\n" << log;
    if (status != 0) {
      return {};
    }
    std::vector<int64_t> shape;
    std::istringstream dims(ReadLines(dir_ / "out_shape.txt").at(0));
    for (int64_t d; dims >> d;) {
      shape.push_back(d);
    }
    std::ifstream in(dir_ / "out.bin", std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    torch::Tensor out = torch::empty(shape, torch::kFloat32);
    EXPECT_EQ(static_cast<int64_t>(bytes.size()), out.numel() * 4);
    if (static_cast<int64_t>(bytes.size()) != out.numel() * 4) {
      return {};
    }
    std::memcpy(out.data_ptr(), bytes.data(), bytes.size());
    return out;
  }

  void ExpectSameKeys(const torch::nn::Module& module) {
    std::vector<std::string> ours = StateDictKeys(module);
    std::vector<std::string> theirs = ReadLines(dir_ / "keys.txt");
    std::sort(ours.begin(), ours.end());
    std::sort(theirs.begin(), theirs.end());
    EXPECT_EQ(ours, theirs);
  }

  void Report(const std::string& what, double diff) {
    std::cout << "[ reference ] " << what << ": max abs diff " << diff << std::endl;
    RecordProperty("max_abs_diff", std::to_string(diff));
  }

  fs::path dir_;
};

ModelOptions ReferenceOptions() {
  return ModelOptions()
      .embed_dim(48)
      .depth(2)
      .num_heads(3)
      .patch_size(8)
      .tubelet_size(2)
      .num_frames(4)
      .image_size(32)
      .decoder_embed_dim(32)
      .decoder_depth(2)
      .decoder_num_heads(2)
      .num_classes(7);
}

TEST_F(ReferenceTest, PretrainingModelMatchesAuthorsArchitecture) {
  const ModelOptions o = ReferenceOptions();
  torch::manual_seed(1);
  PretrainVisionTransformer model(o);
  Perturb(*model, 2);
  model->eval();
  const int64_t batch = 2;
  const torch::Tensor x = torch::randn({batch, 3, 4, 32, 32});
  const torch::Tensor mask = MaskBatch(MaskType::kTube, batch, GridOf(o), 0.75, MakeGenerator(3));
  WriteText(dir_ / "config.txt", ConfigText(o, "pretrain", batch));
  WriteWeights(dir_, *model);
  WriteBytes(dir_ / "x.bin", x);
  WriteBytes(dir_ / "mask.bin", mask.to(torch::kUInt8));

  torch::Tensor ours;
  {
    torch::NoGradGuard no_grad;
    ours = model(x, mask);
  }
  const torch::Tensor theirs = RunReference();
  ASSERT_TRUE(theirs.defined());
  ASSERT_EQ(ours.sizes(), theirs.sizes());
  ASSERT_EQ(ours.sizes(), torch::IntArrayRef({2, 24, 384}));
  const double diff = MaxAbsDiff(ours, theirs);
  Report("pre-training (V1 tube mask)", diff);
  EXPECT_LE(diff, kTolerance);
  ExpectSameKeys(*model);
}

TEST_F(ReferenceTest, DualMaskingMatchesAuthorsV2Forward) {
  const ModelOptions o = ReferenceOptions();
  torch::manual_seed(4);
  PretrainVisionTransformer model(o);
  Perturb(*model, 5);
  model->eval();
  const int64_t batch = 2;
  at::Generator gen = MakeGenerator(6);
  const torch::Tensor x = torch::randn({batch, 3, 4, 32, 32});
  const torch::Tensor mask = MaskBatch(MaskType::kTube, batch, GridOf(o), 0.75, gen);
  const torch::Tensor dmask = RunningCellDecoderMaskBatch(batch, GridOf(o), 0.5, gen);
  WriteText(dir_ / "config.txt", ConfigText(o, "pretrain", batch));
  WriteWeights(dir_, *model);
  WriteBytes(dir_ / "x.bin", x);
  WriteBytes(dir_ / "mask.bin", mask.to(torch::kUInt8));
  WriteBytes(dir_ / "decoder_mask.bin", dmask.to(torch::kUInt8));

  torch::Tensor ours;
  {
    torch::NoGradGuard no_grad;
    ours = model(x, mask, dmask);
  }
  const torch::Tensor theirs = RunReference();
  ASSERT_TRUE(theirs.defined());
  ASSERT_EQ(ours.sizes(), theirs.sizes());
  const double diff = MaxAbsDiff(ours, theirs);
  Report("pre-training (V2 running-cell decoder mask)", diff);
  EXPECT_LE(diff, kTolerance);
}

TEST_F(ReferenceTest, ClassifierMatchesAuthorsArchitecture) {
  for (bool mean_pool : {true, false}) {
    const ModelOptions o = ReferenceOptions().use_mean_pooling(mean_pool);
    torch::manual_seed(7);
    VisionTransformer model(o);
    Perturb(*model, 8);
    model->eval();
    const int64_t batch = 3;
    const torch::Tensor x = torch::randn({batch, 3, 4, 32, 32});
    fs::remove(dir_ / "weights.bin");
    fs::remove(dir_ / "x.bin");
    WriteText(dir_ / "config.txt", ConfigText(o, "classifier", batch));
    WriteWeights(dir_, *model);
    WriteBytes(dir_ / "x.bin", x);
    torch::Tensor ours;
    {
      torch::NoGradGuard no_grad;
      ours = model(x);
    }
    const torch::Tensor theirs = RunReference();
    ASSERT_TRUE(theirs.defined());
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    const double diff = MaxAbsDiff(ours, theirs);
    Report(mean_pool ? "classifier (mean pooling)" : "classifier (first token)", diff);
    EXPECT_LE(diff, kTolerance);
    ExpectSameKeys(*model);
  }
}

}  // namespace
}  // namespace vmae::model
