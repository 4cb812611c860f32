#include "worker/trainer/checkpoints.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "tests/testing/temp_dir.h"
#include "worker/trainer/model_setup.h"

namespace vmae::trainer {
namespace {

namespace fs = std::filesystem;

v1::JobSpec TinySpec() {
  v1::JobSpec spec;
  spec.set_kind(v1::JOB_KIND_PRETRAIN);
  spec.set_seed(1);
  v1::ModelSpec* m = spec.mutable_model();
  m->set_embed_dim(32);
  m->set_depth(1);
  m->set_num_heads(2);
  m->set_mlp_ratio(4);
  m->set_patch_size(16);
  m->set_tubelet_size(2);
  m->set_num_frames(4);
  m->set_image_size(32);
  m->set_decoder_embed_dim(16);
  m->set_decoder_depth(1);
  m->set_decoder_num_heads(1);
  m->set_num_classes(2);
  m->set_init_scale(0.001);
  spec.mutable_optimizer()->set_weight_decay(0.05);
  return spec;
}

TEST(CheckpointsTest, WrittenCompleteAndReadBackIntoAnotherModel) {
  vmae::testing::TempDir tmp;
  const v1::JobSpec spec = TinySpec();
  absl::StatusOr<TrainingModel> model = BuildModel(spec, at::kCPU);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<train::GroupedAdamW> opt = BuildOptimizer(spec, *model);
  ASSERT_TRUE(opt.ok()) << opt.status();
  checkpoint::NativeManifest m;
  m.step = 12;
  m.samples_seen = 96;
  m.data_cursor.epoch = 1;
  m.data_cursor.position = 16;
  absl::StatusOr<std::string> dir = WriteCheckpoint(tmp.path(), *model, *opt, m);
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_EQ(fs::path(*dir).filename(), "step-00000012");
  EXPECT_FALSE(fs::exists(*dir + ".partial"));

  torch::manual_seed(99);  // different weights
  TrainingModel other;
  other.pretrain_model = model::PretrainVisionTransformer(model->pretrain_model->options);
  absl::StatusOr<checkpoint::NativeManifest> back =
      checkpoint::LoadNative(*dir, *other.pretrain_model, nullptr);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->step, 12);
  EXPECT_EQ(back->data_cursor.position, 16);
  const auto a = model->parameters();
  const auto b = other.parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

TEST(CheckpointsTest, PruneKeepsTheNewestStepsOnly) {
  vmae::testing::TempDir tmp;
  const auto step_dir = [&tmp](int step) {
    char name[32];
    std::snprintf(name, sizeof(name), "step-%08d", step);
    return fs::path(tmp.path()) / name;
  };
  // Numeric order, not name order, decides: 12 is the newest.
  for (int s : {1, 2, 12, 3, 4}) fs::create_directories(step_dir(s) / "x");
  fs::create_directories(fs::path(tmp.path()) / "step-00000099.partial");
  fs::create_directories(fs::path(tmp.path()) / "notes");
  PruneCheckpoints(tmp.path(), 3);
  EXPECT_FALSE(fs::exists(step_dir(1)));
  EXPECT_FALSE(fs::exists(step_dir(2)));
  EXPECT_TRUE(fs::exists(step_dir(3)));
  EXPECT_TRUE(fs::exists(step_dir(4)));
  EXPECT_TRUE(fs::exists(step_dir(12)));
  EXPECT_TRUE(fs::exists(fs::path(tmp.path()) / "step-00000099.partial"));
  EXPECT_TRUE(fs::exists(fs::path(tmp.path()) / "notes"));
}

}  // namespace
}  // namespace vmae::trainer
