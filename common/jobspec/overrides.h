// --set flags: "model.depth=6", "optimizer.betas=[0.9,0.999]".
#ifndef VMAE_COMMON_JOBSPEC_OVERRIDES_H_
#define VMAE_COMMON_JOBSPEC_OVERRIDES_H_

#include <string>
#include <vector>

#include "common/jobspec/diagnostics.h"
#include "common/jobspec/yaml_reader.h"
#include "yaml-cpp/yaml.h"

namespace vmae::jobspec::internal {

// Writes each "path=value" into the YAML tree `root` (a mapping) before it
// is read, in order (a later flag wins), and records in `origins` which
// flag wrote which path. Overriding the tree rather than the proto means a
// flag goes through exactly the same type checks, presence tracking and
// validation as the file.
//
// The value is YAML ("6", "[0.9, 0.999]", "{gpu: h100}"). The path is
// checked against the schema as it is walked, so an unknown key gets the
// same nearest-key hint as in a file. Below a label map (resources.selector)
// the rest of the path is one label name, which may contain dots
// ("resources.selector.nvidia.com/gpu.product=H100"). Malformed flags are
// reported, naming the flag, and skipped.
void ApplyOverrides(const std::vector<std::string>& overrides, YAML::Node root,
                    OverrideOrigins* origins, Diagnostics* diagnostics);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_OVERRIDES_H_
