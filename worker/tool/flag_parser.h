// Command-line flags of one `vmae` verb: `--name value`, `--name=value`,
// boolean `--name`, and positional arguments. Each verb declares the flags
// it accepts; anything else is an error that names the flag and the verb's
// usage, so a typo never silently falls back to a default.
#ifndef VMAE_WORKER_TOOL_FLAG_PARSER_H_
#define VMAE_WORKER_TOOL_FLAG_PARSER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmae::tool {

struct FlagSpec {
  std::string name;  // without the leading dashes.
  bool boolean = false;
  std::string help;  // one line for the usage text.
};

class ParsedFlags {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The value given for `name`, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // Integer / float values; INVALID_ARGUMENT naming the flag when malformed.
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  // An integer flag that must lie in [min, max]; out of range is
  // INVALID_ARGUMENT "--name=v is out of range; give <what>".
  absl::StatusOr<int> GetIntInRange(const std::string& name, int64_t fallback, int64_t min,
                                    int64_t max, const std::string& what) const;
  // INVALID_ARGUMENT "--name is required" when absent.
  absl::StatusOr<std::string> Require(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>&,
                                                const std::vector<FlagSpec>&);
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Parses `args` (the words after the verb). INVALID_ARGUMENT for an unknown
// flag (with the nearest known one), a value flag without a value, or a
// value given to a boolean flag. "--" ends flag parsing.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs);

// "  --name VALUE   help" lines for a usage text.
std::string FlagsHelp(const std::vector<FlagSpec>& specs);

// True when args contain -h or --help (before "--").
bool WantsHelp(const std::vector<std::string>& args);

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_FLAG_PARSER_H_
