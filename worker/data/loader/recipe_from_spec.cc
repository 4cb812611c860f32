#include "worker/data/loader/recipe_from_spec.h"

#include <algorithm>

namespace vmae::data {
namespace {

Sampling SamplingOf(const std::string& name) {
  if (name == "dense") return Sampling::kDense;
  if (name == "segment") return Sampling::kSegment;
  return Sampling::kStride;
}

ClipRecipe Common(const v1::JobSpec& spec) {
  ClipRecipe recipe;
  recipe.sampling = SamplingOf(spec.data().sampling());
  recipe.num_frames = spec.model().num_frames();
  recipe.sampling_rate = spec.data().sampling_rate();
  recipe.image_size = spec.model().image_size();
  recipe.seed = static_cast<uint64_t>(spec.seed());
  recipe.clip_timeout = absl::Seconds(spec.data().clip_timeout_seconds());
  return recipe;
}

}  // namespace

ClipRecipe TrainRecipe(const v1::JobSpec& spec) {
  ClipRecipe recipe = Common(spec);
  recipe.repeated_aug = std::max(1, spec.data().repeated_aug());
  if (spec.kind() == v1::JOB_KIND_PRETRAIN) {
    recipe.mode = ClipMode::kPretrain;
    return recipe;
  }
  recipe.mode = ClipMode::kTrain;
  const v1::FinetuneSpec& finetune = spec.finetune();
  recipe.flip = finetune.flip();
  recipe.erase_probability = finetune.random_erase_prob();
  if (finetune.randaug_num_ops() > 0) {
    // The authors' `rand-m7-n4-mstd0.5-inc1`, with m and n from the spec, and
    // their create_random_augment's settings: no img_mean (so timm's grey
    // fill) and their train_interpolation, bicubic, for geometric ops.
    RandAugmentConfig config;
    config.magnitude = finetune.randaug_magnitude();
    config.num_layers = finetune.randaug_num_ops();
    config.magnitude_std = 0.5;
    config.increasing = true;
    config.translate_const = static_cast<int>(recipe.image_size * 0.45);
    config.fill = {128, 128, 128};
    config.interpolation = RandAugmentInterpolation::kBicubic;
    recipe.rand_augment = config;
  }
  return recipe;
}

ClipRecipe EvalRecipe(const v1::JobSpec& spec, bool test) {
  ClipRecipe recipe = Common(spec);
  recipe.mode = test ? ClipMode::kTest : ClipMode::kValidate;
  recipe.test_clips = std::max(1, spec.finetune().test_clips());
  recipe.test_crops = std::max(1, spec.finetune().test_crops());
  return recipe;
}

}  // namespace vmae::data
