// What the YAML may contain, read off the JobSpec proto by reflection.
//
// The proto is the schema: field names are the YAML keys, and enum values
// are written in YAML as their name without the enum's prefix, lower case
// (MASK_TYPE_RUNNING_CELL... -> "running_cell"). Deriving keys from the
// descriptor means a field added to job_spec.proto is accepted, rendered and
// suggested without touching this library.
#ifndef VMAE_COMMON_JOBSPEC_SCHEMA_H_
#define VMAE_COMMON_JOBSPEC_SCHEMA_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/jobspec/diagnostics.h"
#include "google/protobuf/descriptor.h"

namespace vmae::jobspec::internal {

// "a" + "b" -> "a.b"; "" + "b" -> "b".
std::string JoinPath(absl::string_view parent, absl::string_view key);

// The keys of a section, in proto order.
std::vector<std::string> KeysOf(const google::protobuf::Descriptor* section);

// YAML spelling of an enum value: JOB_KIND_PRETRAIN -> "pretrain". The
// prefix is taken from the enum's *_UNSPECIFIED value.
std::string EnumYamlName(const google::protobuf::EnumValueDescriptor* value);
// YAML spellings of every value except *_UNSPECIFIED, in proto order.
std::vector<std::string> EnumYamlNames(const google::protobuf::EnumDescriptor* type);
// The value spelt `name`, or nullptr (also for "unspecified").
const google::protobuf::EnumValueDescriptor* EnumFromYaml(
    const google::protobuf::EnumDescriptor* type, absl::string_view name);

// What a field accepts, for "expected ..." ("an integer", "tube|random").
std::string ExpectedFor(const google::protobuf::FieldDescriptor* field);

// Reports `key` (under section `parent_path`, whose type is `section`) as
// unknown, listing the valid keys and suggesting the nearest one: a close
// spelling in the same section, a well-known synonym (learning_rate ->
// base_lr), or the same key in another section ("epochs" under model ->
// 'optimizer.epochs'). Returns the suggested key when it is in the same
// section, else "".
std::string ReportUnknownKey(const Location& location, absl::string_view parent_path,
                      absl::string_view key, const google::protobuf::Descriptor* section,
                      Diagnostics* diagnostics);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_SCHEMA_H_
