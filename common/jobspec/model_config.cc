// ParseModelConfigYaml / LoadModelConfigFile: the `model:` section alone,
// resolved and checked exactly as inside a job, so that the engine's tools
// and the trainer build the same network from the same file.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/jobspec/defaults.h"
#include "common/jobspec/diagnostics.h"
#include "common/jobspec/jobspec.h"
#include "common/jobspec/read_file.h"
#include "common/jobspec/validate.h"
#include "common/jobspec/yaml_reader.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace vmae::jobspec {
namespace {

using internal::Diagnostics;
using internal::FileLocation;

constexpr absl::string_view kModel = "model";

}  // namespace

absl::StatusOr<v1::ModelSpec> ParseModelConfigYaml(absl::string_view yaml_text, v1::JobKind kind,
                                                   absl::string_view source_name) {
  Diagnostics diagnostics;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    diagnostics.Add(FileLocation(source_name, e.mark), "(syntax)", e.msg, "valid YAML");
    return diagnostics.ToStatus();
  }
  if (!root.IsMap()) {
    diagnostics.Add(FileLocation(source_name, root.Mark()), kModel,
                    absl::StrCat("got ", internal::DescribeNode(root)),
                    "a job file or its model section (a mapping with arch, embed_dim, ...)");
    return diagnostics.ToStatus();
  }
  // A job file has a `model:` key; a bare section has the model's own keys.
  const YAML::Node section = root[std::string(kModel)] ? root[std::string(kModel)] : root;

  v1::JobSpec spec;
  try {
    YAML::Node wrapped(YAML::NodeType::Map);
    wrapped[std::string(kModel)] = section;
    internal::SpecReader reader(std::string(source_name), {}, &diagnostics);
    reader.ReadRoot(wrapped, &spec);
    spec.set_kind(kind);
    internal::ApplyPresetAndDefaults(reader, &spec, &diagnostics);
    internal::CheckSpec(
        spec, [&reader](absl::string_view path) { return reader.Locate(path); },
        /*only_user_values=*/false, &diagnostics);
  } catch (const YAML::Exception& e) {
    diagnostics.Add(FileLocation(source_name, e.mark), kModel, absl::StrCat("cannot be read: ", e.msg),
                    "a plain YAML mapping");
  }
  // The wrapper has no name, data or resources: their "missing" reports
  // are not the user's problem here.
  diagnostics.RetainSection(kModel);
  VMAE_RETURN_IF_ERROR(diagnostics.ToStatus());
  return spec.model();
}

absl::StatusOr<v1::ModelSpec> LoadModelConfigFile(const std::string& path, v1::JobKind kind) {
  std::string text;
  VMAE_ASSIGN_OR_RETURN(text, internal::ReadSpecFile(path, "model config"));
  return ParseModelConfigYaml(text, kind, path);
}

}  // namespace vmae::jobspec
