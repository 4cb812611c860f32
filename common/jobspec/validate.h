// Field and cross-field rules of a resolved JobSpec.
#ifndef VMAE_COMMON_JOBSPEC_VALIDATE_H_
#define VMAE_COMMON_JOBSPEC_VALIDATE_H_

#include "common/jobspec/diagnostics.h"
#include "vmae/v1/job_spec.pb.h"

namespace vmae::jobspec::internal {

// Checks every rule and reports each broken one once, located by `locate`.
// Rules whose fields are already blocked (a type error, a missing preset)
// are skipped. With `only_user_values` (the kind is missing, so the recipe
// defaults could not be filled) a rule is reported only when the user wrote
// one of its fields; missing required fields are always reported.
// Shared by ParseJobSpecYaml and ValidateJobSpec so that a YAML spec and a
// proto spec obey exactly the same rules.
void CheckSpec(const v1::JobSpec& spec, const Locator& locate, bool only_user_values,
               Diagnostics* diagnostics);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_VALIDATE_H_
