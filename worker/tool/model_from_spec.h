// A job's resolved `model:` section (vmae.v1.ModelSpec) as the engine's
// ModelOptions: the one place where the wire names meet the model's.
#ifndef VMAE_WORKER_TOOL_MODEL_FROM_SPEC_H_
#define VMAE_WORKER_TOOL_MODEL_FROM_SPEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "vmae/v1/job_spec.pb.h"
#include "worker/model/options.h"

namespace vmae::tool {

// `spec` must be resolved (jobspec::LoadModelConfigFile fills presets and
// defaults), so every size is set.
model::ModelOptions ModelOptionsFromSpec(const v1::ModelSpec& spec);

// Reads a job file or its model section (errors name the file and line) for
// a model of `kind`.
absl::StatusOr<model::ModelOptions> LoadModelOptions(const std::string& path, v1::JobKind kind);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_MODEL_FROM_SPEC_H_
