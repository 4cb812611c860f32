// Printing for vmaectl: kubectl-like tables, and json / yaml that show the
// same fields (yaml is made from the proto JSON mapping, so both formats
// carry every field, with proto field names and RFC 3339 times).
// Everything here is a pure function and thread-compatible.
#ifndef VMAE_CLIENT_OUTPUT_H_
#define VMAE_CLIENT_OUTPUT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"
#include "vmae/v1/types.pb.h"

namespace vmae::client {

enum class OutputFormat { kTable, kJson, kYaml };

// "table" (or empty), "json", "yaml"; INVALID_ARGUMENT otherwise.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// Proto JSON mapping with proto field names and every primitive field, on one
// line (pretty = false) or indented by two spaces.
absl::StatusOr<nlohmann::ordered_json> MessageToJsonValue(const google::protobuf::Message& message);
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message,
                                          bool pretty = true);

// YAML text for a JSON value. Maps keep their order; empty maps and lists are
// written as {} and []; strings YAML would read as booleans or null are
// quoted.
std::string JsonToYaml(const nlohmann::ordered_json& value);

// One message, or a list of them (a JSON array / YAML sequence), in json or
// yaml, ending with a newline. kTable is not accepted (INVALID_ARGUMENT).
absl::StatusOr<std::string> FormatMessage(const google::protobuf::Message& message,
                                          OutputFormat format);
absl::StatusOr<std::string> FormatMessageList(
    const std::vector<const google::protobuf::Message*>& messages, OutputFormat format);

// A table with left-aligned columns separated by three spaces, and the
// header in capitals, like kubectl. The last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  // Every line ends with '\n'. Missing cells print as empty.
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// kubectl-style age: "45s", "3m", "2h", "5d"; negative durations read "0s".
std::string FormatAge(absl::Duration age);
// Age of a timestamp at `now`; "-" when the timestamp is unset.
std::string FormatTimestampAge(const google::protobuf::Timestamp& ts, absl::Time now);
// RFC 3339 in UTC ("2024-05-01T12:00:00Z"); "-" when unset.
std::string FormatTimestamp(const google::protobuf::Timestamp& ts);
absl::Time ToAbslTime(const google::protobuf::Timestamp& ts);
bool IsSet(const google::protobuf::Timestamp& ts);

// A duration for ETAs: "45s", "5m12s", "2h03m", "3d04h".
std::string FormatEta(absl::Duration d);
// Bytes in binary units: "512 B", "1.5 KiB", "12.0 MiB", "1.2 GiB".
std::string FormatBytes(int64_t bytes);
// Loss with four significant digits ("0.812", "12.35", "1.235e-05").
std::string FormatLoss(double loss);

// Short names: "RUNNING", "pretrain", "IDLE", "user", "infrastructure".
std::string JobStateName(v1::JobState state);
std::string JobKindName(v1::JobKind kind);
std::string WorkerStateName(v1::WorkerState state);
std::string FailureKindName(v1::FailureKind kind);
// "RUNNING" or "running" -> JOB_STATE_RUNNING; INVALID_ARGUMENT otherwise.
absl::StatusOr<v1::JobState> ParseJobState(absl::string_view text);
bool IsTerminal(v1::JobState state);

}  // namespace vmae::client

#endif  // VMAE_CLIENT_OUTPUT_H_
