#include "common/jobspec/schema.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/jobspec/nearest_key.h"
#include "vmae/v1/job_spec.pb.h"

namespace vmae::jobspec::internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::FieldDescriptor;

constexpr absl::string_view kUnspecified = "UNSPECIFIED";

// Names users bring from other trainers (timm, HF Trainer, Determined) that
// no spelling distance would map to ours.
constexpr std::pair<absl::string_view, absl::string_view> kSynonyms[] = {
    {"learning_rate", "base_lr"}, {"lr_min", "min_lr"},        {"num_epochs", "epochs"},
    {"max_epochs", "epochs"},     {"warmup", "warmup_epochs"}, {"batch", "batch_size"},
    {"wd", "weight_decay"},       {"gpus", "workers"},         {"replicas", "workers"},
    {"architecture", "arch"},     {"heads", "num_heads"},      {"frames", "num_frames"},
    {"input_size", "image_size"}, {"smoothing", "label_smoothing"},
};

std::string EnumPrefix(const EnumDescriptor* type) {
  for (int i = 0; i < type->value_count(); ++i) {
    const std::string& name = type->value(i)->name();
    if (absl::EndsWith(name, kUnspecified)) {
      return name.substr(0, name.size() - kUnspecified.size());
    }
  }
  return "";
}

}  // namespace

std::string JoinPath(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

std::vector<std::string> KeysOf(const Descriptor* section) {
  std::vector<std::string> keys;
  keys.reserve(section->field_count());
  for (int i = 0; i < section->field_count(); ++i) {
    keys.push_back(section->field(i)->name());
  }
  return keys;
}

std::string EnumYamlName(const EnumValueDescriptor* value) {
  const std::string prefix = EnumPrefix(value->type());
  absl::string_view name = value->name();
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

std::vector<std::string> EnumYamlNames(const EnumDescriptor* type) {
  std::vector<std::string> names;
  for (int i = 0; i < type->value_count(); ++i) {
    if (type->value(i)->number() != 0) {
      names.push_back(EnumYamlName(type->value(i)));
    }
  }
  return names;
}

const EnumValueDescriptor* EnumFromYaml(const EnumDescriptor* type, absl::string_view name) {
  for (int i = 0; i < type->value_count(); ++i) {
    const EnumValueDescriptor* value = type->value(i);
    if (value->number() != 0 && EnumYamlName(value) == name) {
      return value;
    }
  }
  return nullptr;
}

std::string ExpectedFor(const FieldDescriptor* field) {
  if (field->is_map()) {
    return "a mapping of label: value strings, e.g. {gpu: h100}";
  }
  if (field->is_repeated()) {
    return "a list of numbers, e.g. [0.9, 0.999]";
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "an integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "a number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat("one of ", absl::StrJoin(EnumYamlNames(field->enum_type()), "|"));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return absl::StrCat("a mapping with keys ", absl::StrJoin(KeysOf(field->message_type()), ", "));
  }
  return "a value";
}

std::string ReportUnknownKey(const Location& location, absl::string_view parent_path,
                      absl::string_view key, const Descriptor* section,
                      Diagnostics* diagnostics) {
  const std::vector<std::string> keys = KeysOf(section);
  std::string suggestion = NearestKey(key, keys).value_or("");
  if (suggestion.empty()) {
    for (const auto& [synonym, ours] : kSynonyms) {
      if (absl::EqualsIgnoreCase(key, synonym) && section->FindFieldByName(std::string(ours))) {
        suggestion = std::string(ours);
        break;
      }
    }
  }
  std::string what = "unknown key";
  const std::string same_section = suggestion;
  if (suggestion.empty()) {
    // The right key in the wrong section: point at where it belongs.
    const Descriptor* root = v1::JobSpec::descriptor();
    const std::string wanted(key);
    if (section != root && root->FindFieldByName(wanted) != nullptr) {
      what = "unknown key here (it belongs at the top level)";
    }
    for (int i = 0; suggestion.empty() && i < root->field_count(); ++i) {
      const Descriptor* other = root->field(i)->message_type();
      if (other != nullptr && other != section && other->FindFieldByName(wanted) != nullptr) {
        suggestion = JoinPath(root->field(i)->name(), wanted);
      }
    }
  }
  diagnostics->Add(location, JoinPath(parent_path, key), what,
                   absl::StrCat("one of ", absl::StrJoin(keys, ", ")), suggestion);
  return same_section;
}

}  // namespace vmae::jobspec::internal
