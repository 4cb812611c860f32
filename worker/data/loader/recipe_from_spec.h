// A job spec's model, data and fine-tuning sections as clip recipes: the one
// place where the spec's names meet the loader's.
#ifndef VMAE_WORKER_DATA_LOADER_RECIPE_FROM_SPEC_H_
#define VMAE_WORKER_DATA_LOADER_RECIPE_FROM_SPEC_H_

#include "vmae/v1/job_spec.pb.h"
#include "worker/data/loader/clip_recipe.h"

namespace vmae::data {

// Training clips: pre-training (stride sampling, multi-scale crop) or
// fine-tuning (RandAugment m/n from the spec with the authors' std 0.5 and
// increasing ops, random erasing, flip). `spec` must be resolved
// (jobspec::LoadJobSpecFile fills defaults).
ClipRecipe TrainRecipe(const v1::JobSpec& spec);

// Evaluation clips: kValidate (one clip, centre crop) or, with `test`, the
// spec's test_clips x test_crops views.
ClipRecipe EvalRecipe(const v1::JobSpec& spec, bool test);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_RECIPE_FROM_SPEC_H_
