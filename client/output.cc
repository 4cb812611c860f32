#include "client/output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/json_util.h"
#include "yaml-cpp/yaml.h"

namespace vmae::client {
namespace {

using nlohmann::ordered_json;

// Display width of UTF-8 text: code points, not bytes.
size_t DisplayWidth(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

// Strings a YAML 1.1/1.2 reader would take for a boolean or null.
bool NeedsQuotes(const std::string& s) {
  static const char* const kSpecial[] = {"true", "false", "yes", "no",   "on",
                                         "off",  "y",     "n",   "null", "~"};
  std::string lower = absl::AsciiStrToLower(s);
  for (const char* word : kSpecial) {
    if (lower == word) {
      return true;
    }
  }
  return false;
}

void EmitJson(YAML::Emitter& out, const ordered_json& value) {
  switch (value.type()) {
    case ordered_json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key;
        if (NeedsQuotes(key)) {
          out << YAML::DoubleQuoted;
        }
        out << key << YAML::Value;
        EmitJson(out, item);
      }
      out << YAML::EndMap;
      return;
    case ordered_json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : value) {
        EmitJson(out, item);
      }
      out << YAML::EndSeq;
      return;
    case ordered_json::value_t::string: {
      const std::string& s = value.get_ref<const std::string&>();
      if (NeedsQuotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      return;
    }
    case ordered_json::value_t::boolean:
      out << value.get<bool>();
      return;
    case ordered_json::value_t::number_integer:
      out << value.get<int64_t>();
      return;
    case ordered_json::value_t::number_unsigned:
      out << value.get<uint64_t>();
      return;
    case ordered_json::value_t::number_float:
      // nlohmann's shortest round-trip text, not yaml-cpp's fixed precision.
      out << value.dump();
      return;
    default:
      out << YAML::Null;
      return;
  }
}

std::string StripPrefix(const std::string& name, absl::string_view prefix) {
  if (absl::StartsWith(name, prefix)) {
    return name.substr(prefix.size());
  }
  return name;
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  if (text.empty() || text == "table" || text == "wide") {
    return OutputFormat::kTable;
  }
  if (text == "json") {
    return OutputFormat::kJson;
  }
  if (text == "yaml") {
    return OutputFormat::kYaml;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown output format '", text, "'; use -o table, -o json or -o yaml"));
}

absl::StatusOr<nlohmann::ordered_json> MessageToJsonValue(
    const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = false;
  std::string text;
  auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot convert ", message.GetTypeName(), " to JSON: ", status.ToString()));
  }
  ordered_json value = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    return absl::InternalError(
        absl::StrCat("protobuf produced unparsable JSON for ", message.GetTypeName()));
  }
  return value;
}

absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool pretty) {
  auto value = MessageToJsonValue(message);
  if (!value.ok()) {
    return value.status();
  }
  return pretty ? value->dump(2) : value->dump();
}

std::string JsonToYaml(const nlohmann::ordered_json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  EmitJson(out, value);
  return out.c_str();
}

absl::StatusOr<std::string> FormatMessage(const google::protobuf::Message& message,
                                          OutputFormat format) {
  if (format == OutputFormat::kTable) {
    return absl::InvalidArgumentError("FormatMessage: tables are printed by the command");
  }
  auto value = MessageToJsonValue(message);
  if (!value.ok()) {
    return value.status();
  }
  if (format == OutputFormat::kJson) {
    return value->dump(2) + "\n";
  }
  return JsonToYaml(*value) + "\n";
}

absl::StatusOr<std::string> FormatMessageList(
    const std::vector<const google::protobuf::Message*>& messages, OutputFormat format) {
  if (format == OutputFormat::kTable) {
    return absl::InvalidArgumentError("FormatMessageList: tables are printed by the command");
  }
  ordered_json array = ordered_json::array();
  for (const google::protobuf::Message* message : messages) {
    auto value = MessageToJsonValue(*message);
    if (!value.ok()) {
      return value.status();
    }
    array.push_back(*std::move(value));
  }
  if (format == OutputFormat::kJson) {
    return array.dump(2) + "\n";
  }
  return JsonToYaml(array) + "\n";
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {
  for (std::string& h : headers_) {
    absl::AsciiStrToUpper(&h);
  }
}

void Table::AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

std::string Table::Render() const {
  size_t columns = headers_.size();
  for (const auto& row : rows_) {
    columns = std::max(columns, row.size());
  }
  std::vector<size_t> widths(columns, 0);
  auto measure = [&widths](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i]));
    }
  };
  measure(headers_);
  for (const auto& row : rows_) {
    measure(row);
  }
  std::string out;
  auto render_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      const std::string cell = i < row.size() ? row[i] : std::string();
      line += cell;
      if (i + 1 < columns) {
        line.append(widths[i] - DisplayWidth(cell) + 3, ' ');
      }
    }
    // Trailing empty cells leave spaces behind; drop them.
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    out += line;
    out += '\n';
  };
  render_row(headers_);
  for (const auto& row : rows_) {
    render_row(row);
  }
  return out;
}

std::string FormatAge(absl::Duration age) {
  if (age < absl::ZeroDuration()) {
    return "0s";
  }
  int64_t seconds = absl::ToInt64Seconds(age);
  if (seconds < 60) {
    return absl::StrCat(seconds, "s");
  }
  if (seconds < 3600) {
    return absl::StrCat(seconds / 60, "m");
  }
  if (seconds < 86400) {
    return absl::StrCat(seconds / 3600, "h");
  }
  return absl::StrCat(seconds / 86400, "d");
}

bool IsSet(const google::protobuf::Timestamp& ts) { return ts.seconds() != 0 || ts.nanos() != 0; }

absl::Time ToAbslTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

std::string FormatTimestampAge(const google::protobuf::Timestamp& ts, absl::Time now) {
  if (!IsSet(ts)) {
    return "-";
  }
  return FormatAge(now - ToAbslTime(ts));
}

std::string FormatTimestamp(const google::protobuf::Timestamp& ts) {
  if (!IsSet(ts)) {
    return "-";
  }
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToAbslTime(ts), absl::UTCTimeZone());
}

std::string FormatEta(absl::Duration d) {
  if (d < absl::ZeroDuration()) {
    d = absl::ZeroDuration();
  }
  int64_t s = absl::ToInt64Seconds(d + absl::Milliseconds(500));
  if (s < 60) {
    return absl::StrCat(s, "s");
  }
  if (s < 3600) {
    return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  }
  if (s < 86400) {
    return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  }
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string FormatBytes(int64_t bytes) {
  if (bytes < 1024) {
    return absl::StrCat(bytes, " B");
  }
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < sizeof(kUnits) / sizeof(kUnits[0])) {
    value /= 1024.0;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string FormatLoss(double loss) {
  if (std::isnan(loss)) {
    return "nan";
  }
  return absl::StrFormat("%.4g", loss);
}

std::string JobStateName(v1::JobState state) {
  if (state == v1::JOB_STATE_UNSPECIFIED) {
    return "UNKNOWN";
  }
  return StripPrefix(v1::JobState_Name(state), "JOB_STATE_");
}

std::string JobKindName(v1::JobKind kind) {
  if (kind == v1::JOB_KIND_UNSPECIFIED) {
    return "-";
  }
  return absl::AsciiStrToLower(StripPrefix(v1::JobKind_Name(kind), "JOB_KIND_"));
}

std::string WorkerStateName(v1::WorkerState state) {
  if (state == v1::WORKER_STATE_UNSPECIFIED) {
    return "UNKNOWN";
  }
  return StripPrefix(v1::WorkerState_Name(state), "WORKER_STATE_");
}

std::string FailureKindName(v1::FailureKind kind) {
  switch (kind) {
    case v1::FAILURE_KIND_USER:
      return "user error";
    case v1::FAILURE_KIND_INFRASTRUCTURE:
      return "infrastructure";
    default:
      return "-";
  }
}

absl::StatusOr<v1::JobState> ParseJobState(absl::string_view text) {
  std::string upper = absl::AsciiStrToUpper(text);
  if (!absl::StartsWith(upper, "JOB_STATE_")) {
    upper = absl::StrCat("JOB_STATE_", upper);
  }
  v1::JobState state;
  if (v1::JobState_Parse(upper, &state) && state != v1::JOB_STATE_UNSPECIFIED) {
    return state;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown job state '", text,
      "'; use QUEUED, RUNNING, RESTARTING, PAUSING, PAUSED, CANCELLING, SUCCEEDED, FAILED or "
      "CANCELLED"));
}

bool IsTerminal(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

}  // namespace vmae::client
