// Presets and the authors' recipe defaults.
#ifndef VMAE_COMMON_JOBSPEC_DEFAULTS_H_
#define VMAE_COMMON_JOBSPEC_DEFAULTS_H_

#include "common/jobspec/diagnostics.h"
#include "common/jobspec/yaml_reader.h"
#include "vmae/v1/job_spec.pb.h"

namespace vmae::jobspec::internal {

// Fills every field the user did not give (reader.Given) from the model
// preset and the recipe of spec->kind(), so an accepted spec is concrete.
// Reports a missing or unknown model.arch and the fields that custom needs.
// With no valid kind only the kind-independent defaults are filled.
void ApplyPresetAndDefaults(SpecReader& reader, v1::JobSpec* spec, Diagnostics* diagnostics);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_DEFAULTS_H_
