#include "worker/tool/flag_parser.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/jobspec/nearest_key.h"

namespace vmae::tool {
namespace {

const FlagSpec* Find(const std::vector<FlagSpec>& specs, const std::string& name) {
  for (const FlagSpec& spec : specs) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

absl::Status UnknownFlag(const std::vector<FlagSpec>& specs, const std::string& name) {
  std::vector<std::string> names;
  for (const FlagSpec& spec : specs) names.push_back(spec.name);
  std::string message = absl::StrCat("unknown flag --", name);
  if (std::optional<std::string> near = jobspec::internal::NearestKey(name, names)) {
    absl::StrAppend(&message, "; did you mean --", *near, "?");
  }
  absl::StrAppend(&message, " (see --help)");
  return absl::InvalidArgumentError(message);
}

}  // namespace

std::string ParsedFlags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> ParsedFlags::GetInt(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", it->second, ": expected an integer"));
  }
  return value;
}

absl::StatusOr<int> ParsedFlags::GetIntInRange(const std::string& name, int64_t fallback,
                                               int64_t min, int64_t max,
                                               const std::string& what) const {
  absl::StatusOr<int64_t> value = GetInt(name, fallback);
  if (!value.ok()) return value.status();
  if (*value < min || *value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", *value, " is out of range; give ", what));
  }
  return static_cast<int>(*value);
}

absl::StatusOr<double> ParsedFlags::GetDouble(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double value = 0;
  if (!absl::SimpleAtod(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", it->second, ": expected a number"));
  }
  return value;
}

absl::StatusOr<std::string> ParsedFlags::Require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required (see --help)"));
  }
  return it->second;
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs) {
  ParsedFlags parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      parsed.positional_.insert(parsed.positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    // "-o json" is the one short flag (kubectl's habit); it means --format,
    // since --output names output files here.
    const bool short_output = arg == "-o";
    if (!short_output && (arg.size() < 3 || arg.compare(0, 2, "--") != 0)) {
      if (!arg.empty() && arg[0] == '-' && arg.size() > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown flag ", arg, "; flags are written --name (see --help)"));
      }
      parsed.positional_.push_back(arg);
      continue;
    }
    std::string name = short_output ? "format" : arg.substr(2);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = Find(specs, name);
    if (spec == nullptr) return UnknownFlag(specs, name);
    if (spec->boolean) {
      if (value.has_value() && *value != "true" && *value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " takes no value (or =true / =false), got '", *value, "'"));
      }
      parsed.values_[name] = value.value_or("true");
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    parsed.values_[name] = *value;
  }
  return parsed;
}

std::string FlagsHelp(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const FlagSpec& spec : specs) {
    const std::string left = absl::StrCat(spec.name == "format" ? "-o, " : "", "--", spec.name,
                                          spec.boolean ? "" : " VALUE");
    absl::StrAppend(&out, absl::StrFormat("  %-28s %s\n", left, spec.help));
  }
  return out;
}

bool WantsHelp(const std::vector<std::string>& args) {
  for (const std::string& arg : args) {
    if (arg == "--") return false;
    if (arg == "-h" || arg == "--help") return true;
  }
  return false;
}

}  // namespace vmae::tool
