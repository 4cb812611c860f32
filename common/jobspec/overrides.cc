#include "common/jobspec/overrides.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/jobspec/schema.h"
#include "google/protobuf/descriptor.h"
#include "vmae/v1/job_spec.pb.h"

namespace vmae::jobspec::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

constexpr absl::string_view kFormat = "<path>=<value>, e.g. model.depth=6";

// yaml-cpp throws on bad input; flags are user input, so catch here.
bool LoadValue(const std::string& text, YAML::Node* value, std::string* error) {
  try {
    *value = YAML::Load(text);
    return true;
  } catch (const YAML::Exception& e) {
    *error = e.msg;
    return false;
  }
}

// Applies one flag; returns after reporting the first problem with it.
void ApplyOne(const std::string& flag, int index, YAML::Node root, OverrideOrigins* origins,
              Diagnostics* diagnostics) {
  Location location;
  location.origin = Location::Origin::kOverride;
  location.source = flag;
  location.override_index = index;
  location.exact = true;

  const size_t equals = flag.find('=');
  const std::string path(absl::StripAsciiWhitespace(
      equals == std::string::npos ? absl::string_view(flag) : absl::string_view(flag).substr(0, equals)));
  const std::string shown_path = path.empty() ? "(no path)" : path;
  if (equals == std::string::npos) {
    diagnostics->Add(location, shown_path, "missing '=<value>'", kFormat);
    return;
  }
  if (path.empty()) {
    diagnostics->Add(location, shown_path, "missing the field path before '='", kFormat);
    return;
  }
  const std::vector<std::string> keys = absl::StrSplit(path, '.');

  // Walk the schema and the tree together. `target` is the mapping that
  // receives the value under `leaf_key`.
  const Descriptor* section = v1::JobSpec::descriptor();
  YAML::Node target = root;
  std::string parent_path;
  std::string leaf_key;
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string& key = keys[i];
    if (key.empty()) {
      diagnostics->Add(location, path, "has an empty key", "dot-separated keys like model.depth");
      return;
    }
    const FieldDescriptor* field = section->FindFieldByName(key);
    if (field == nullptr) {
      // Nothing to block: a misspelt flag leaves the file's value or the
      // default in place, so nothing goes missing.
      ReportUnknownKey(location, parent_path, key, section, diagnostics);
      return;
    }
    const bool last = i + 1 == keys.size();
    const bool is_section =
        field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated();
    if (last || (!is_section && !field->is_map())) {
      if (!last) {
        diagnostics->Add(location, JoinPath(parent_path, key),
                         absl::StrCat("is ", ExpectedFor(field), ", not a section"),
                         absl::StrCat(JoinPath(parent_path, key), "=<value>"));
        return;
      }
      leaf_key = key;
      break;
    }
    // Descend into `key`, creating the mapping when the file lacks it.
    YAML::Node child = target[key];
    if (!child.IsDefined() || child.IsNull()) {
      child = YAML::Node(YAML::NodeType::Map);
    } else if (!child.IsMap()) {
      diagnostics->Add(location, JoinPath(parent_path, key),
                       "cannot set a key inside it: the file does not give a mapping here",
                       "a mapping in the file, or a flag that sets the whole value");
      return;
    }
    target.reset(child);
    parent_path = JoinPath(parent_path, key);
    if (field->is_map()) {
      // A label name is opaque and may contain dots: take the rest whole.
      leaf_key = absl::StrJoin(keys.begin() + static_cast<std::ptrdiff_t>(i) + 1, keys.end(), ".");
      break;
    }
    section = field->message_type();
  }

  if (leaf_key.empty()) {
    diagnostics->Add(location, path, "has no label name after the label map",
                     absl::StrCat(path, "<label>=<value>"));
    return;
  }

  YAML::Node value;
  std::string error;
  if (!LoadValue(flag.substr(equals + 1), &value, &error)) {
    diagnostics->Add(location, path, absl::StrCat("cannot parse the value: ", error),
                     "a YAML value: a scalar, [a, list] or {key: value}");
    return;
  }
  target[leaf_key] = value;
  const std::string leaf_path = JoinPath(parent_path, leaf_key);
  // A narrower earlier flag is now overwritten: drop its claim.
  const std::string prefix = absl::StrCat(leaf_path, ".");
  for (auto it = origins->lower_bound(prefix);
       it != origins->end() && absl::StartsWith(it->first, prefix);) {
    it = origins->erase(it);
  }
  (*origins)[leaf_path] = OverrideOrigin{flag, index};
}

}  // namespace

void ApplyOverrides(const std::vector<std::string>& overrides, YAML::Node root,
                    OverrideOrigins* origins, Diagnostics* diagnostics) {
  for (size_t i = 0; i < overrides.size(); ++i) {
    ApplyOne(overrides[i], static_cast<int>(i), root, origins, diagnostics);
  }
}

}  // namespace vmae::jobspec::internal
