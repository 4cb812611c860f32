// --set overrides ("vmaectl submit job.yaml --set model.depth=6").
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/jobspec/jobspec.h"
#include "gmock/gmock.h"
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

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

TEST(JobSpecTest, SetChangesScalarValues) {
  const auto spec = ParseJobSpecYaml(
      kMinimalPretrain, {"model.depth=6", "seed=42", "pretrain.mask_type=random",
                         "pretrain.normalize_target=false", "resources.device=cpu"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->model().depth(), 6);
  EXPECT_EQ(spec->model().embed_dim(), 768);  // the rest of the preset stays.
  EXPECT_EQ(spec->seed(), 42);
  EXPECT_EQ(spec->pretrain().mask_type(), v1::MASK_TYPE_RANDOM);
  EXPECT_FALSE(spec->pretrain().normalize_target());
  // Defaults that depend on an overridden value follow it.
  EXPECT_EQ(spec->resources().precision(), "fp32");
}

TEST(JobSpecTest, SetAcceptsFlowListsAndMaps) {
  const auto spec = ParseJobSpecYaml(
      kMinimalPretrain, {"optimizer.betas=[0.9,0.999]", "resources.selector={gpu: a100, n: 8}"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_THAT(spec->optimizer().betas(), ElementsAre(0.9, 0.999));
  EXPECT_EQ(spec->resources().selector().at("gpu"), "a100");
  EXPECT_EQ(spec->resources().selector().at("n"), "8");
}

TEST(JobSpecTest, SetAddsAndReplacesSelectorLabels) {
  const std::string yaml =
      absl::StrCat(kMinimalPretrain, "resources:\n  selector:\n    gpu: a100\n    zone: x\n");
  const auto spec = ParseJobSpecYaml(
      yaml, {"resources.selector.gpu=h100", "resources.selector.nvidia.com/gpu.product=H100-SXM"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->resources().selector().at("gpu"), "h100");
  EXPECT_EQ(spec->resources().selector().at("zone"), "x");
  EXPECT_EQ(spec->resources().selector().at("nvidia.com/gpu.product"), "H100-SXM");
}

TEST(JobSpecTest, SetCreatesMissingSectionsAndLaterFlagWins) {
  const auto spec =
      ParseJobSpecYaml(kMinimalPretrain, {"eval.every_epochs=1", "eval.every_epochs=0"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->eval().every_epochs(), 0);
}

TEST(JobSpecTest, SetCanFixAnInvalidFile) {
  const std::string broken = absl::StrReplaceAll(
      kMinimalFinetune, {{"  init_from: job://j-00ff/latest", "  init_from: later"}});
  EXPECT_THAT(ParseJobSpecYaml(broken), StatusIs(kInvalid, "finetune.init_from"));
  const auto fixed = ParseJobSpecYaml(broken, {"finetune.init_from=job://j-abc123/latest"});
  ASSERT_THAT(fixed, IsOk());
  EXPECT_EQ(fixed->finetune().init_from(), "job://j-abc123/latest");
}

TEST(JobSpecTest, SetWithBadValueNamesTheFlag) {
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"model.depth=x"}),
              StatusIs(kInvalid, "--set model.depth=x: model.depth: 'x' is not a number; "
                                 "expected an integer"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"model.depth="}),
              StatusIs(kInvalid, "--set model.depth=: model.depth: has no value"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"optimizer.betas=[0.9,"}),
              StatusIs(kInvalid, "--set optimizer.betas=[0.9,: optimizer.betas: cannot parse the "
                                 "value"));
  // A value that breaks a cross-field rule is blamed on the flag too.
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"model.num_heads=7"}),
              StatusIs(kInvalid, "--set model.num_heads=7: model.num_heads: model.embed_dim (768) "
                                 "is not a multiple of model.num_heads (7)"));
}

TEST(JobSpecTest, SetWithUnknownPathSuggestsNearestKey) {
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"model.dpeth=6"}),
              StatusIs(kInvalid, "--set model.dpeth=6: model.dpeth: unknown key; expected one of "
                                 "arch, embed_dim, depth"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"model.dpeth=6"}),
              StatusIs(kInvalid, "did you mean 'depth'?"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"optimiser.epochs=3"}),
              StatusIs(kInvalid, "--set optimiser.epochs=3: optimiser: unknown key; expected one "
                                 "of kind, name"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"optimiser.epochs=3"}),
              StatusIs(kInvalid, "did you mean 'optimizer'?"));
}

TEST(JobSpecTest, MalformedSetIsRejectedNamingTheFlag) {
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"foo"}),
              StatusIs(kInvalid, "--set foo: foo: missing '=<value>'; expected <path>=<value>"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"=3"}),
              StatusIs(kInvalid, "--set =3: (no path): missing the field path before '='"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"model..depth=3"}),
              StatusIs(kInvalid, "--set model..depth=3: model..depth: has an empty key"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"seed.value=3"}),
              StatusIs(kInvalid, "--set seed.value=3: seed: is an integer, not a section"));
  EXPECT_THAT(ParseJobSpecYaml(kMinimalPretrain, {"resources.selector.=h100"}),
              StatusIs(kInvalid, "--set resources.selector.=h100: resources.selector.: has no "
                                 "label name"));
}

TEST(JobSpecTest, SetErrorsComeAfterFileErrorsInFlagOrder) {
  const std::string yaml =
      absl::StrReplaceAll(kMinimalPretrain, {{"arch: vit_base", "arch: vit_base\n  depth: x"}});
  const auto spec = ParseJobSpecYaml(yaml, {"seed=-1", "foo"});
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(),
            "job.yaml:5:10: model.depth: 'x' is not a number; expected an integer\n"
            "--set seed=-1: seed: value -1 is out of range; expected an integer >= 0\n"
            "--set foo: foo: missing '=<value>'; expected <path>=<value>, e.g. model.depth=6");
}

TEST(JobSpecTest, SetOverridesABadFileValueWithoutReportingIt) {
  const std::string yaml =
      absl::StrReplaceAll(kMinimalPretrain, {{"arch: vit_base", "arch: vit_base\n  depth: x"}});
  const auto spec = ParseJobSpecYaml(yaml, {"model.depth=6"});
  ASSERT_THAT(spec, IsOk());
  EXPECT_EQ(spec->model().depth(), 6);
  EXPECT_THAT(spec.status().message(), Not(HasSubstr("depth")));
}

}  // namespace
}  // namespace vmae::jobspec
