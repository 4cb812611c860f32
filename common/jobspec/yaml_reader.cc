#include "common/jobspec/yaml_reader.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/jobspec/nearest_key.h"
#include "common/jobspec/scalars.h"
#include "common/jobspec/schema.h"

namespace vmae::jobspec::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// yaml-cpp tags a plain (unquoted) scalar "?" and a quoted one "!". Only a
// plain scalar may be a number or boolean: `depth: "12"` is a string.
bool IsPlain(const YAML::Node& node) { return node.Tag() == "?"; }

bool IsValidMark(const YAML::Mark& mark) { return mark.line >= 0 && mark.column >= 0; }

bool IsIntegerType(const FieldDescriptor* field) {
  return field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
         field->cpp_type() == FieldDescriptor::CPPTYPE_INT64;
}

}  // namespace

std::string DescribeNode(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "no value";
    case YAML::NodeType::Scalar:
      return absl::StrCat("'", node.Scalar(), "'");
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "a value";
}

SpecReader::SpecReader(std::string source_name, OverrideOrigins overrides, Diagnostics* diagnostics)
    : source_name_(std::move(source_name)),
      overrides_(std::move(overrides)),
      diagnostics_(diagnostics) {}

void SpecReader::ReadRoot(const YAML::Node& root, v1::JobSpec* spec) {
  ReadSection(root, root.Mark(), spec, "");
}

bool SpecReader::Given(absl::string_view path) const { return given_.find(path) != given_.end(); }

const OverrideOrigin* SpecReader::OverrideFor(absl::string_view path) const {
  // The longest overridden prefix wins: "--set model={depth: 3}" owns
  // model.depth unless a later, narrower flag set model.depth itself.
  absl::string_view probe = path;
  while (true) {
    auto it = overrides_.find(probe);
    if (it != overrides_.end()) {
      return &it->second;
    }
    const size_t dot = probe.rfind('.');
    if (dot == absl::string_view::npos) {
      return nullptr;
    }
    probe = probe.substr(0, dot);
  }
}

Location SpecReader::Locate(absl::string_view path) const {
  Location location;
  if (const OverrideOrigin* origin = OverrideFor(path); origin != nullptr) {
    location.origin = Location::Origin::kOverride;
    location.source = origin->text;
    location.override_index = origin->index;
    location.exact = true;
    return location;
  }
  location.origin = Location::Origin::kFile;
  location.source = source_name_;
  if (auto it = given_.find(path); it != given_.end() && IsValidMark(it->second)) {
    location.line = it->second.line;
    location.column = it->second.column;
    location.exact = true;
    return location;
  }
  // A section that only a --set flag created has no mark; blame the flag.
  const std::string prefix = path.empty() ? "" : absl::StrCat(path, ".");
  for (const auto& [overridden, origin] : overrides_) {
    if (absl::StartsWith(overridden, prefix)) {
      Location from_flag;
      from_flag.origin = Location::Origin::kOverride;
      from_flag.source = origin.text;
      from_flag.override_index = origin.index;
      return from_flag;
    }
  }
  // A default or preset value: blame the section the user wrote around it.
  absl::string_view parent = path;
  while (!parent.empty()) {
    const size_t dot = parent.rfind('.');
    parent = dot == absl::string_view::npos ? absl::string_view() : parent.substr(0, dot);
    if (auto it = given_.find(parent); it != given_.end() && IsValidMark(it->second)) {
      location.line = it->second.line;
      location.column = it->second.column;
      return location;
    }
  }
  return location;  // the start of the file.
}

Location SpecReader::At(const YAML::Mark& mark, absl::string_view path) const {
  if (OverrideFor(path) != nullptr || !IsValidMark(mark)) {
    return Locate(path);
  }
  Location location;
  location.origin = Location::Origin::kFile;
  location.source = source_name_;
  location.line = mark.line;
  location.column = mark.column;
  location.exact = true;
  return location;
}

void SpecReader::Fail(const YAML::Mark& mark, absl::string_view path, absl::string_view what,
                      absl::string_view expected, absl::string_view suggestion) {
  diagnostics_->Add(At(mark, path), path, what, expected, suggestion);
}

void SpecReader::ReadSection(const YAML::Node& node, const YAML::Mark& mark, Message* message,
                             const std::string& path) {
  const Descriptor* descriptor = message->GetDescriptor();
  const std::string expected =
      absl::StrCat("a mapping with keys ", absl::StrJoin(KeysOf(descriptor), ", "));
  if (node.IsNull()) {
    return;  // "eval:" with nothing under it: an empty section.
  }
  if (!node.IsMap()) {
    Fail(mark, path.empty() ? "(top level)" : path, absl::StrCat("got ", DescribeNode(node)),
         expected);
    return;
  }
  // yaml-cpp keeps every pair of a mapping but its lookups return the first
  // one, so a repeated key would silently lose; find them by iterating.
  std::map<std::string, YAML::Mark> seen;
  std::vector<std::string> misspelt;  // keys the unknown ones probably meant.
  for (auto it = node.begin(); it != node.end(); ++it) {
    // Copies, not references: it-> returns a proxy that dies with the
    // statement (GCC 12 rightly flags the dangling reference); a Node is a
    // cheap handle.
    const YAML::Node key_node = it->first;
    const YAML::Node value = it->second;
    if (!key_node.IsScalar()) {
      Fail(key_node.Mark(), path.empty() ? "(top level)" : path,
           absl::StrCat("a key is ", DescribeNode(key_node)), "plain keys like 'depth'");
      continue;
    }
    const std::string key = key_node.Scalar();
    const std::string child_path = JoinPath(path, key);
    auto [first, inserted] = seen.emplace(key, key_node.Mark());
    if (!inserted) {
      Fail(key_node.Mark(), child_path,
           absl::StrCat("duplicate key (first given at line ", first->second.line + 1, ")"),
           "each key at most once");
      continue;
    }
    const FieldDescriptor* field = descriptor->FindFieldByName(key);
    if (field == nullptr) {
      const std::string meant =
          ReportUnknownKey(At(key_node.Mark(), child_path), path, key, descriptor, diagnostics_);
      if (!meant.empty()) {
        misspelt.push_back(meant);
      }
      continue;
    }
    // A scalar is blamed where it is; a section or list at its key, because
    // yaml-cpp marks a block collection (and an empty value) at the next line.
    const YAML::Mark value_mark = value.IsScalar() ? value.Mark() : key_node.Mark();
    if (!assigning_) {
      given_[child_path] = value_mark;
    }
    ReadField(value, value_mark, message, field, child_path);
  }
  // "modle:" already says "did you mean 'model'?"; with no real model: key,
  // do not also report everything model: would have held as missing.
  for (const std::string& key : misspelt) {
    if (seen.find(key) == seen.end()) {
      diagnostics_->Block(JoinPath(path, key));
    }
  }
}

void SpecReader::ReadField(const YAML::Node& value, const YAML::Mark& mark, Message* message,
                           const FieldDescriptor* field, const std::string& path) {
  if (field->is_map()) {
    ReadLabels(value, mark, message, field, path);
  } else if (field->is_repeated()) {
    ReadList(value, mark, message, field, path);
  } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    ReadSection(value, mark, message->GetReflection()->MutableMessage(message, field), path);
  } else {
    ReadScalar(value, mark, message, field, path);
  }
}

void SpecReader::ReadLabels(const YAML::Node& value, const YAML::Mark& mark, Message* message,
                            const FieldDescriptor* field, const std::string& path) {
  const Reflection* reflection = message->GetReflection();
  reflection->ClearField(message, field);
  if (value.IsNull()) {
    return;
  }
  if (!value.IsMap()) {
    Fail(mark, path, absl::StrCat("got ", DescribeNode(value)), ExpectedFor(field));
    return;
  }
  const Descriptor* entry_type = field->message_type();
  std::map<std::string, YAML::Mark> seen;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const YAML::Node key_node = it->first;
    const YAML::Node label = it->second;
    if (!key_node.IsScalar() || key_node.Scalar().empty()) {
      Fail(key_node.Mark(), path, absl::StrCat("a label key is ", DescribeNode(key_node)),
           "non-empty label names");
      continue;
    }
    const std::string key = key_node.Scalar();
    const std::string child_path = JoinPath(path, key);
    auto [first, inserted] = seen.emplace(key, key_node.Mark());
    if (!inserted) {
      Fail(key_node.Mark(), child_path,
           absl::StrCat("duplicate key (first given at line ", first->second.line + 1, ")"),
           "each key at most once");
      continue;
    }
    if (!assigning_) {
      given_[child_path] = label.IsScalar() ? label.Mark() : key_node.Mark();
    }
    // Labels are strings, but `count: 8` is stringified rather than refused:
    // agents advertise labels as text and "8" is what the user means.
    if (!label.IsScalar()) {
      Fail(key_node.Mark(), child_path,
           absl::StrCat("got ", DescribeNode(label)), "a string label value");
      continue;
    }
    Message* entry = reflection->AddMessage(message, field);
    entry->GetReflection()->SetString(entry, entry_type->map_key(), key);
    entry->GetReflection()->SetString(entry, entry_type->map_value(), label.Scalar());
  }
}

void SpecReader::ReadList(const YAML::Node& value, const YAML::Mark& mark, Message* message,
                          const FieldDescriptor* field, const std::string& path) {
  message->GetReflection()->ClearField(message, field);
  if (!value.IsSequence()) {
    Fail(mark, path, absl::StrCat("got ", DescribeNode(value)), ExpectedFor(field));
    return;
  }
  const size_t errors_before = diagnostics_->size();
  for (size_t i = 0; i < value.size(); ++i) {
    const YAML::Node element = value[i];
    const YAML::Mark element_mark = IsValidMark(element.Mark()) ? element.Mark() : mark;
    const std::string element_path = absl::StrCat(path, "[", i, "]");
    // Elements are located too, so a range error names the right column.
    if (!assigning_) {
      given_[element_path] = element_mark;
    }
    ReadScalar(element, element_mark, message, field, element_path);
  }
  if (diagnostics_->size() != errors_before) {
    // A bad element was dropped; the list's length is not the user's.
    diagnostics_->Block(path);
  }
}

void SpecReader::ReadScalar(const YAML::Node& value, const YAML::Mark& mark, Message* message,
                            const FieldDescriptor* field, const std::string& path) {
  const Reflection* reflection = message->GetReflection();
  const bool repeated = field->is_repeated();
  std::string expected = ExpectedFor(field);
  if (repeated) {
    // An element of a list is a single value.
    expected = field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ? "a number" : "a scalar";
  }
  if (!value.IsScalar()) {
    Fail(mark, path, value.IsNull() ? "has no value" : absl::StrCat("got ", DescribeNode(value)),
         expected);
    return;
  }
  const std::string& text = value.Scalar();
  const bool plain = IsPlain(value);
  if (!plain && (IsIntegerType(field) || field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ||
                 field->cpp_type() == FieldDescriptor::CPPTYPE_BOOL)) {
    Fail(mark, path, absl::StrCat("'", text, "' is quoted, so it is a string"),
         absl::StrCat(expected, " (remove the quotes)"));
    return;
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      const std::optional<int64_t> number = ParseInteger(text);
      if (!number.has_value()) {
        Fail(mark, path,
             ParseNumber(text).has_value() ? absl::StrCat("'", text, "' is not a whole number")
                                           : absl::StrCat("'", text, "' is not a number"),
             expected);
        return;
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        if (*number < std::numeric_limits<int32_t>::min() ||
            *number > std::numeric_limits<int32_t>::max()) {
          Fail(mark, path, absl::StrCat(text, " does not fit in 32 bits"),
               "an integer between -2147483648 and 2147483647");
          return;
        }
        const int32_t narrow = static_cast<int32_t>(*number);
        repeated ? reflection->AddInt32(message, field, narrow)
                 : reflection->SetInt32(message, field, narrow);
      } else {
        repeated ? reflection->AddInt64(message, field, *number)
                 : reflection->SetInt64(message, field, *number);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const std::optional<double> number = ParseNumber(text);
      if (!number.has_value()) {
        Fail(mark, path, absl::StrCat("'", text, "' is not a finite number"), expected);
        return;
      }
      repeated ? reflection->AddDouble(message, field, *number)
               : reflection->SetDouble(message, field, *number);
      return;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      const std::optional<bool> flag = ParseBool(text);
      if (!flag.has_value()) {
        Fail(mark, path, absl::StrCat("'", text, "' is not a boolean"), expected);
        return;
      }
      repeated ? reflection->AddBool(message, field, *flag)
               : reflection->SetBool(message, field, *flag);
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING:
      // Plain numbers are kept as written ("name: 2024" is the name "2024").
      repeated ? reflection->AddString(message, field, text)
               : reflection->SetString(message, field, text);
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* enum_value = EnumFromYaml(field->enum_type(), text);
      if (enum_value == nullptr) {
        Fail(mark, path, absl::StrCat("'", text, "' is not a valid value"), expected,
             NearestKey(text, EnumYamlNames(field->enum_type())).value_or(""));
        return;
      }
      repeated ? reflection->AddEnum(message, field, enum_value)
               : reflection->SetEnum(message, field, enum_value);
      return;
    }
    default:
      Fail(mark, path, "has a type this reader does not support", "a field of job_spec.proto");
      return;
  }
}

bool SpecReader::Assign(const YAML::Node& value, absl::string_view path, Message* root) {
  const std::vector<std::string> keys = absl::StrSplit(path, '.');
  Message* message = root;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(keys[i]);
    if (field == nullptr || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
        field->is_repeated()) {
      return false;
    }
    message = message->GetReflection()->MutableMessage(message, field);
  }
  const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(keys.back());
  if (field == nullptr) {
    return false;
  }
  const size_t errors_before = diagnostics_->size();
  assigning_ = true;
  ReadField(value, YAML::Mark::null_mark(), message, field, std::string(path));
  assigning_ = false;
  return diagnostics_->size() == errors_before;
}

Location FileLocation(absl::string_view source_name, const YAML::Mark& mark) {
  Location location;
  location.origin = Location::Origin::kFile;
  location.source = std::string(source_name);
  location.line = mark.line >= 0 ? mark.line : 0;
  location.column = mark.column >= 0 ? mark.column : 0;
  location.exact = true;
  return location;
}

}  // namespace vmae::jobspec::internal
