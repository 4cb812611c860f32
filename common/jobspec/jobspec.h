// vmae::jobspec: the one place where job specs are parsed and validated.
//
// vmaectl uses it before sending a job and the coordinator uses it again on
// receipt (see docs "Job spec"). Every entry point reports ALL the problems
// it finds in one INVALID_ARGUMENT status, one problem per line, so a user
// fixes a file in one pass instead of one error per submit:
//
//   <source>:<line>:<column>: <field.path>: <what is wrong>; expected <what>[; did you mean '<key>'?]
//
// Lines and columns are 1-based. A value that came from a --set override is
// located as "--set <override>" instead of "<source>:<line>:<column>", and a
// spec that arrived as a proto (no YAML) has no location at all.
//
// Thread-safety: every function is a pure function of its arguments (plus
// the file system for LoadJobSpecFile and ValidateDataPaths) and may be
// called from any thread.
#ifndef VMAE_COMMON_JOBSPEC_JOBSPEC_H_
#define VMAE_COMMON_JOBSPEC_JOBSPEC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "vmae/v1/job_spec.pb.h"

namespace vmae::jobspec {

// Parses a YAML job file, applies --set overrides ("model.depth=6",
// "resources.selector.gpu=h100", "optimizer.betas=[0.9,0.999]"), fills
// presets and recipe defaults, validates. On failure returns
// INVALID_ARGUMENT whose message lists every problem found, one per line
// (format above). `source_name` only labels the locations.
absl::StatusOr<vmae::v1::JobSpec> ParseJobSpecYaml(
    absl::string_view yaml_text, const std::vector<std::string>& overrides = {},
    absl::string_view source_name = "job.yaml");

// Reads the file then calls ParseJobSpecYaml with the path as source name.
// NOT_FOUND for a missing file, PERMISSION_DENIED for an unreadable one,
// INVALID_ARGUMENT for a directory or a file over 1 MiB; all name the path.
absl::StatusOr<vmae::v1::JobSpec> LoadJobSpecFile(
    const std::string& path, const std::vector<std::string>& overrides = {});

// The model of a job, for the engine's tools (`vmae reconstruct`, `vmae
// predict`): `yaml_text` is a whole job file, of which only the `model:`
// section is read, or just that section. The section is resolved as a job
// of `kind` resolves it (preset, defaults) and checked by the same rules;
// errors have ParseJobSpecYaml's format and concern model.* fields only.
absl::StatusOr<vmae::v1::ModelSpec> ParseModelConfigYaml(absl::string_view yaml_text,
                                                         vmae::v1::JobKind kind,
                                                         absl::string_view source_name);

// Reads the file (errors as LoadJobSpecFile's) then ParseModelConfigYaml.
absl::StatusOr<vmae::v1::ModelSpec> LoadModelConfigFile(const std::string& path,
                                                        vmae::v1::JobKind kind);

// Validates a JobSpec that arrived as a proto (e.g. built by a Python gRPC
// client): the same field and cross-field rules as ParseJobSpecYaml, errors
// name the field path (no line). Fills no defaults: a proto spec must be
// complete, so a required value left at zero/empty is an error.
absl::Status ValidateJobSpec(const vmae::v1::JobSpec& spec);

// Data paths, checked by the coordinator against its --data-root flags.
// data.root must be absolute, contain no "..", and lie under one of
// `data_roots` (when non-empty); data.train / data.val are relative with no
// "..". A finetune.init_from that is a path obeys the same root rule. With
// `check_exists`, root, root/train (and root/val when set) and an init_from
// path must exist and be readable, and must not escape the data roots
// through symlinks. INVALID_ARGUMENT for a malformed or out-of-root path,
// otherwise NOT_FOUND / PERMISSION_DENIED; every message names the path.
absl::Status ValidateDataPaths(const vmae::v1::JobSpec& spec,
                               const std::vector<std::string>& data_roots,
                               bool check_exists);

// Canonical YAML of a resolved spec (for `vmaectl submit --dry-run` and
// `vmaectl get -o yaml`): every field written explicitly, in proto order,
// numbers in their shortest exact form, so that
// ParseJobSpecYaml(JobSpecToYaml(s)) gives back s for any accepted s.
std::string JobSpecToYaml(const vmae::v1::JobSpec& spec);

// Model size presets (docs "VideoMAE reference", Sizes). Every preset uses
// the shared defaults below for patch, tubelet, MLP ratio and input size.
struct ArchPreset {
  absl::string_view name;  // value of model.arch, e.g. "vit_base".
  int embed_dim;
  int depth;
  int num_heads;
  int decoder_embed_dim;
  int decoder_depth;
  int decoder_num_heads;
};

// Defaults shared by every arch, custom included.
inline constexpr int kDefaultPatchSize = 16;
inline constexpr int kDefaultTubeletSize = 2;
inline constexpr double kDefaultMlpRatio = 4.0;
inline constexpr int kDefaultNumFrames = 16;
inline constexpr int kDefaultImageSize = 224;
inline constexpr int kDefaultDecoderDepth = 4;
// model.arch value that takes no preset: embed_dim, depth, num_heads given.
inline constexpr absl::string_view kCustomArch = "custom";

// vit_small, vit_base, vit_large, vit_huge, in that order.
absl::Span<const ArchPreset> ArchPresets();
// The preset called `name`, or nullptr (for "custom" and unknown names).
const ArchPreset* FindArchPreset(absl::string_view name);

}  // namespace vmae::jobspec

#endif  // VMAE_COMMON_JOBSPEC_JOBSPEC_H_
