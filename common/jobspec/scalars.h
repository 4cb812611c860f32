// Strict conversions between YAML scalar text and numbers.
//
// yaml-cpp's as<bool>() also takes yes/no/on/off/y/n and as<double>() takes
// .nan and .inf. A job file is a contract, so we accept exactly: decimal
// integers for integers, finite decimal/scientific numbers for floats, and
// true/false for booleans.
#ifndef VMAE_COMMON_JOBSPEC_SCALARS_H_
#define VMAE_COMMON_JOBSPEC_SCALARS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace vmae::jobspec::internal {

// "12", "-3", "+7". Not "12.0", "1e3", "0x10", "1_000".
std::optional<int64_t> ParseInteger(absl::string_view text);

// "0.9", "1.5e-4", "-2", ".5", "4.". Not ".inf", ".nan", "1e999" (overflow).
std::optional<double> ParseNumber(absl::string_view text);

// true/True/TRUE/false/False/FALSE (YAML 1.2 core schema). Not yes/no/on/off,
// which YAML 1.1 tools disagree about.
std::optional<bool> ParseBool(absl::string_view text);

// True when a plain (unquoted) scalar with this text would be read as a
// null, boolean or number by YAML tools, so a string holding it must be
// quoted to stay a string.
bool LooksLikeNonString(absl::string_view text);

// Shortest decimal text that reads back as exactly `value`, always with a
// '.' or an exponent so a reader sees a float ("4.0", "0.00015", "1e-08").
std::string FormatNumber(double value);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_SCALARS_H_
