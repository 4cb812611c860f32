// ParseJobSpecYaml, LoadJobSpecFile and ValidateJobSpec: the pipeline
//   YAML text -> tree (+ --set) -> proto (+ what was given where)
//             -> presets and defaults -> rules -> one status.
#include "common/jobspec/jobspec.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/jobspec/defaults.h"
#include "common/jobspec/diagnostics.h"
#include "common/jobspec/overrides.h"
#include "common/jobspec/read_file.h"
#include "common/jobspec/schema.h"
#include "common/jobspec/validate.h"
#include "common/jobspec/yaml_reader.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace vmae::jobspec {
namespace {

using internal::Diagnostics;
using internal::FileLocation;
using internal::Location;

constexpr absl::string_view kTopLevel = "(top level)";
constexpr absl::string_view kSyntax = "(syntax)";

std::string TopLevelExpected() {
  return absl::StrCat("a mapping with keys ",
                      absl::StrJoin(internal::KeysOf(v1::JobSpec::descriptor()), ", "),
                      " (at least kind, name, model and data)");
}

// yaml-cpp's messages ("illegal map value") rarely say that a tab caused
// them; YAML forbids tabs in indentation, so point at one when the failing
// line (or the one before, where a bad indent often starts) has one.
std::string SyntaxMessage(absl::string_view text, const YAML::ParserException& e) {
  std::string message = e.msg;
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  for (int line : {e.mark.line, e.mark.line - 1}) {
    if (line >= 0 && line < static_cast<int>(lines.size()) &&
        absl::StrContains(lines[line], '\t')) {
      absl::StrAppend(&message, " (line ", line + 1, " contains a tab: indent with spaces)");
      break;
    }
  }
  return message;
}

}  // namespace

absl::StatusOr<v1::JobSpec> ParseJobSpecYaml(absl::string_view yaml_text,
                                             const std::vector<std::string>& overrides,
                                             absl::string_view source_name) {
  Diagnostics diagnostics;
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    // The parser stops at the first syntax error, so this is the only one.
    diagnostics.Add(FileLocation(source_name, e.mark), kSyntax, SyntaxMessage(yaml_text, e),
                    "valid YAML: 'key: value' lines indented with spaces, closed brackets "
                    "and quotes");
    return diagnostics.ToStatus();
  } catch (const YAML::Exception& e) {
    diagnostics.Add(FileLocation(source_name, e.mark), kSyntax, e.msg, "valid YAML");
    return diagnostics.ToStatus();
  }

  if (documents.empty() || (documents.size() == 1 && documents[0].IsNull())) {
    diagnostics.Add(FileLocation(source_name, YAML::Mark()), kTopLevel,
                    "the file is empty (no YAML content)", TopLevelExpected());
    return diagnostics.ToStatus();
  }
  if (documents.size() > 1) {
    // Blame the '---' that starts the second document, not its first key.
    YAML::Mark second = documents[1].Mark();
    const std::vector<absl::string_view> lines = absl::StrSplit(yaml_text, '\n');
    for (int line = std::min(second.line, static_cast<int>(lines.size()) - 1); line >= 0; --line) {
      if (absl::StartsWith(lines[line], "---")) {
        second.line = line;
        second.column = 0;
        break;
      }
    }
    diagnostics.Add(FileLocation(source_name, second), kTopLevel,
                    absl::StrCat("the file holds ", documents.size(), " YAML documents"),
                    "one job per file (remove the '---' separator)");
  }
  YAML::Node root = documents[0];
  if (!root.IsMap()) {
    diagnostics.Add(FileLocation(source_name, root.Mark()), kTopLevel,
                    absl::StrCat("got ", internal::DescribeNode(root)), TopLevelExpected());
    return diagnostics.ToStatus();
  }

  v1::JobSpec spec;
  // The steps below only read nodes that were checked first, but a job file
  // is untrusted input and no exception may leave this library.
  try {
    internal::OverrideOrigins origins;
    internal::ApplyOverrides(overrides, root, &origins, &diagnostics);
    internal::SpecReader reader(std::string(source_name), std::move(origins), &diagnostics);
    reader.ReadRoot(root, &spec);
    internal::ApplyPresetAndDefaults(reader, &spec, &diagnostics);
    const bool kind_known = spec.kind() != v1::JOB_KIND_UNSPECIFIED;
    internal::CheckSpec(
        spec, [&reader](absl::string_view path) { return reader.Locate(path); },
        /*only_user_values=*/!kind_known, &diagnostics);
  } catch (const YAML::Exception& e) {
    diagnostics.Add(FileLocation(source_name, e.mark), kTopLevel,
                    absl::StrCat("cannot be read: ", e.msg), "a plain YAML mapping");
  }
  if (!diagnostics.empty()) {
    return diagnostics.ToStatus();
  }
  return spec;
}

absl::StatusOr<v1::JobSpec> LoadJobSpecFile(const std::string& path,
                                            const std::vector<std::string>& overrides) {
  std::string text;
  VMAE_ASSIGN_OR_RETURN(text, internal::ReadSpecFile(path, "job file"));
  return ParseJobSpecYaml(text, overrides, path);
}

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  Diagnostics diagnostics;
  internal::CheckSpec(
      spec, [](absl::string_view) { return Location(); }, /*only_user_values=*/false,
      &diagnostics);
  return diagnostics.ToStatus();
}

}  // namespace vmae::jobspec
