// JobSpecToYaml: the canonical rendering of a resolved spec.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/jobspec/jobspec.h"
#include "common/jobspec/scalars.h"
#include "common/jobspec/schema.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/yaml.h"

namespace vmae::jobspec {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// A string that YAML would read as a number, boolean or null ("2024",
// "true", "~") is quoted so it reads back as the same string in any tool.
void EmitString(const std::string& text, YAML::Emitter* out) {
  if (internal::LooksLikeNonString(text)) {
    *out << YAML::DoubleQuoted << text;
  } else {
    *out << text;
  }
}

void EmitScalar(const Message& message, const FieldDescriptor* field, int index,
                YAML::Emitter* out) {
  const Reflection* r = message.GetReflection();
  const bool repeated = field->is_repeated();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      *out << absl::StrCat(repeated ? r->GetRepeatedInt32(message, field, index)
                                    : r->GetInt32(message, field));
      return;
    case FieldDescriptor::CPPTYPE_INT64:
      *out << absl::StrCat(repeated ? r->GetRepeatedInt64(message, field, index)
                                    : r->GetInt64(message, field));
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      // Shortest exact text: the spec reads back bit-for-bit.
      *out << internal::FormatNumber(repeated ? r->GetRepeatedDouble(message, field, index)
                                              : r->GetDouble(message, field));
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      *out << ((repeated ? r->GetRepeatedBool(message, field, index) : r->GetBool(message, field))
                   ? "true"
                   : "false");
      return;
    case FieldDescriptor::CPPTYPE_STRING:
      EmitString(repeated ? r->GetRepeatedString(message, field, index)
                          : r->GetString(message, field),
                 out);
      return;
    case FieldDescriptor::CPPTYPE_ENUM:
      *out << internal::EnumYamlName(repeated ? r->GetRepeatedEnum(message, field, index)
                                              : r->GetEnum(message, field));
      return;
    default:
      *out << YAML::Null;
      return;
  }
}

void EmitSection(const Message& message, YAML::Emitter* out) {
  const Descriptor* descriptor = message.GetDescriptor();
  const Reflection* r = message.GetReflection();
  *out << YAML::BeginMap;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (field->is_map()) {
      // Map order is unspecified in protobuf; sort for a stable rendering.
      std::vector<std::pair<std::string, std::string>> entries;
      for (int j = 0; j < r->FieldSize(message, field); ++j) {
        const Message& entry = r->GetRepeatedMessage(message, field, j);
        const Reflection* er = entry.GetReflection();
        entries.emplace_back(er->GetString(entry, field->message_type()->map_key()),
                             er->GetString(entry, field->message_type()->map_value()));
      }
      if (entries.empty()) {
        continue;
      }
      std::sort(entries.begin(), entries.end());
      *out << YAML::Key << field->name() << YAML::Value << YAML::BeginMap;
      for (const auto& [key, value] : entries) {
        *out << YAML::Key;
        EmitString(key, out);
        *out << YAML::Value;
        EmitString(value, out);
      }
      *out << YAML::EndMap;
    } else if (field->is_repeated()) {
      if (r->FieldSize(message, field) == 0) {
        continue;
      }
      *out << YAML::Key << field->name() << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (int j = 0; j < r->FieldSize(message, field); ++j) {
        EmitScalar(message, field, j, out);
      }
      *out << YAML::EndSeq;
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      // Absent sections stay absent: a finetune spec has no pretrain: key.
      if (!r->HasField(message, field)) {
        continue;
      }
      *out << YAML::Key << field->name() << YAML::Value;
      EmitSection(r->GetMessage(message, field), out);
    } else {
      // Empty strings (an unset data.val) and unset enums mean "not given";
      // every number is written, zeros included, so nothing is re-defaulted.
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
          r->GetString(message, field).empty()) {
        continue;
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_ENUM && r->GetEnumValue(message, field) == 0) {
        continue;
      }
      *out << YAML::Key << field->name() << YAML::Value;
      EmitScalar(message, field, 0, out);
    }
  }
  *out << YAML::EndMap;
}

}  // namespace

std::string JobSpecToYaml(const v1::JobSpec& spec) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitSection(spec, &out);
  return absl::StrCat("# vmae job spec, resolved: presets and recipe defaults filled in.\n",
                      out.c_str(), "\n");
}

}  // namespace vmae::jobspec
