// Turns a YAML tree into a JobSpec, remembering what the user wrote where.
#ifndef VMAE_COMMON_JOBSPEC_YAML_READER_H_
#define VMAE_COMMON_JOBSPEC_YAML_READER_H_

#include <functional>
#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "common/jobspec/diagnostics.h"
#include "google/protobuf/message.h"
#include "vmae/v1/job_spec.pb.h"
#include "yaml-cpp/yaml.h"

namespace vmae::jobspec::internal {

// Which --set flag wrote a path's value, so errors blame the flag and not a
// line of the file.
struct OverrideOrigin {
  std::string text;  // the flag as given, "model.depth=6".
  int index = 0;     // its position on the command line.
};
using OverrideOrigins = std::map<std::string, OverrideOrigin, std::less<>>;

// Reads a YAML mapping into a JobSpec by reflection (the proto is the
// schema, see schema.h). Type errors, unknown and duplicate keys go to the
// Diagnostics with the node's line and column; reading goes on after an
// error so that one pass finds everything.
//
// Besides the message, a reader knows which paths the user gave (proto3
// scalars have no presence: "clip_grad: 0" and no clip_grad look the same,
// but only the latter takes a default) and where each one is, for the
// locations of later preset and validation errors.
class SpecReader {
 public:
  SpecReader(std::string source_name, OverrideOrigins overrides, Diagnostics* diagnostics);

  // Reads a document root, which the caller has checked is a mapping.
  void ReadRoot(const YAML::Node& root, v1::JobSpec* spec);

  // True when the file or a --set flag gave `path` ("model.depth").
  bool Given(absl::string_view path) const;

  // The best place to blame for `path`: the flag or node that gave it
  // (exact), else the nearest enclosing section the user wrote, else the
  // start of the file (not exact).
  Location Locate(absl::string_view path) const;

  // Converts `value` into the field at `path` under `root`, creating
  // sections on the way; used to apply defaults, which are written as YAML
  // literals. Does not mark the path as given. Returns false (a bug in the
  // defaults table) when the path or the value does not fit the schema.
  bool Assign(const YAML::Node& value, absl::string_view path, google::protobuf::Message* root);

 private:
  void ReadSection(const YAML::Node& node, const YAML::Mark& mark, google::protobuf::Message* message,
                   const std::string& path);
  void ReadField(const YAML::Node& value, const YAML::Mark& mark, google::protobuf::Message* message,
                 const google::protobuf::FieldDescriptor* field, const std::string& path);
  void ReadLabels(const YAML::Node& value, const YAML::Mark& mark, google::protobuf::Message* message,
                  const google::protobuf::FieldDescriptor* field, const std::string& path);
  void ReadList(const YAML::Node& value, const YAML::Mark& mark, google::protobuf::Message* message,
                const google::protobuf::FieldDescriptor* field, const std::string& path);
  // Sets (or, for a repeated field, appends) one scalar.
  void ReadScalar(const YAML::Node& value, const YAML::Mark& mark, google::protobuf::Message* message,
                  const google::protobuf::FieldDescriptor* field, const std::string& path);

  // The override covering `path` (itself or a parent), or nullptr.
  const OverrideOrigin* OverrideFor(absl::string_view path) const;
  // Where a node is: its override, else its mark, else Locate(path).
  Location At(const YAML::Mark& mark, absl::string_view path) const;
  void Fail(const YAML::Mark& mark, absl::string_view path, absl::string_view what,
            absl::string_view expected, absl::string_view suggestion = {});

  std::string source_name_;
  OverrideOrigins overrides_;
  Diagnostics* diagnostics_;
  // Every path the user gave -> the mark of its scalar value, or of its key
  // for a section, a list or an empty value.
  std::map<std::string, YAML::Mark, std::less<>> given_;
  // True inside Assign: defaults are not the user's, so nothing is recorded.
  bool assigning_ = false;
};

// Describes a node for "got ..." messages: "'twelve'", "a list", "a mapping".
std::string DescribeNode(const YAML::Node& node);

// The exact location of a YAML mark in `source_name` (the file).
Location FileLocation(absl::string_view source_name, const YAML::Mark& mark);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_YAML_READER_H_
