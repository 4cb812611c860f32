// The model section alone (for the engine's tools): presets and defaults as
// in a job, errors limited to model.* and located in the file.
#include <string>

#include "common/jobspec/jobspec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/jobspec/test_util.h"

namespace vmae::jobspec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::StatusIs;

TEST(ModelConfigTest, BareSectionTakesThePresetOfItsArch) {
  absl::StatusOr<v1::ModelSpec> model =
      ParseModelConfigYaml("arch: vit_small\nnum_frames: 8\n", v1::JOB_KIND_PRETRAIN, "m.yaml");
  ASSERT_TRUE(model.ok()) << model.status();
  // ViT-S (reference "Sizes"): 384 wide, 12 deep, 6 heads, decoder 192 / 3 heads / 4 deep.
  EXPECT_EQ(model->embed_dim(), 384);
  EXPECT_EQ(model->depth(), 12);
  EXPECT_EQ(model->num_heads(), 6);
  EXPECT_EQ(model->decoder_embed_dim(), 192);
  EXPECT_EQ(model->decoder_num_heads(), 3);
  EXPECT_EQ(model->decoder_depth(), 4);
  EXPECT_EQ(model->num_frames(), 8);
  EXPECT_EQ(model->image_size(), 224);
  EXPECT_EQ(model->patch_size(), 16);
  EXPECT_EQ(model->tubelet_size(), 2);
}

TEST(ModelConfigTest, JobFileContributesOnlyItsModelSection) {
  // The demo job's data root does not exist here: only model: is read.
  absl::StatusOr<v1::ModelSpec> model = LoadModelConfigFile(
      std::string(VMAE_SOURCE_DIR) + "/configs/demo-pretrain.yaml", v1::JOB_KIND_PRETRAIN);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->embed_dim(), 96);
  EXPECT_EQ(model->depth(), 4);
  EXPECT_EQ(model->decoder_depth(), 2);
  EXPECT_EQ(model->image_size(), 64);
}

TEST(ModelConfigTest, FinetuneDefaultsApplyForTheFinetuneKind) {
  absl::StatusOr<v1::ModelSpec> model = ParseModelConfigYaml(
      "arch: vit_base\nnum_classes: 174\n", v1::JOB_KIND_FINETUNE, "m.yaml");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->num_classes(), 174);
  // Recipe: drop path 0.1 when fine-tuning, mean pooling, init_scale 0.001.
  EXPECT_DOUBLE_EQ(model->drop_path(), 0.1);
  EXPECT_TRUE(model->use_mean_pooling());
  EXPECT_DOUBLE_EQ(model->init_scale(), 0.001);
}

TEST(ModelConfigTest, MisspelledKeyIsReportedWithItsLineAndASuggestion) {
  absl::StatusOr<v1::ModelSpec> model = ParseModelConfigYaml(
      "arch: custom\nembed_dim: 96\ndepht: 4\nnum_heads: 3\n", v1::JOB_KIND_PRETRAIN, "m.yaml");
  ASSERT_FALSE(model.ok());
  EXPECT_THAT(model.status().message(), HasSubstr("m.yaml:3:1: model.depht"));
  EXPECT_THAT(model.status().message(), HasSubstr("did you mean 'depth'?"));
  // Only the model's problems: the wrapper has no name or data.
  EXPECT_THAT(model.status().message(), Not(HasSubstr("data")));
  EXPECT_THAT(model.status().message(), Not(HasSubstr("name")));
}

TEST(ModelConfigTest, CrossFieldRuleOfTheModelStillApplies) {
  // 100 is not a multiple of 3 heads.
  absl::StatusOr<v1::ModelSpec> model = ParseModelConfigYaml(
      "arch: custom\nembed_dim: 100\ndepth: 2\nnum_heads: 3\n", v1::JOB_KIND_PRETRAIN, "m.yaml");
  EXPECT_THAT(model.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(model.status().message(), HasSubstr("num_heads"));
}

TEST(ModelConfigTest, ScalarInsteadOfMappingIsRejected) {
  absl::StatusOr<v1::ModelSpec> model =
      ParseModelConfigYaml("vit_base\n", v1::JOB_KIND_PRETRAIN, "m.yaml");
  EXPECT_THAT(model.status(), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(model.status().message(), HasSubstr("m.yaml:1:1"));
}

TEST(ModelConfigTest, MissingFileIsNotFoundAndNamesThePath) {
  absl::StatusOr<v1::ModelSpec> model =
      LoadModelConfigFile("/nonexistent/m.yaml", v1::JOB_KIND_PRETRAIN);
  EXPECT_THAT(model.status(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(model.status().message(), HasSubstr("/nonexistent/m.yaml"));
}

}  // namespace
}  // namespace vmae::jobspec
