#include "common/jobspec/scalars.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace vmae::jobspec::internal {
namespace {

// Consumes [0-9]+ from `text` at `*pos`; returns how many digits it took.
size_t TakeDigits(absl::string_view text, size_t* pos) {
  const size_t start = *pos;
  while (*pos < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[*pos]))) {
    ++*pos;
  }
  return *pos - start;
}

void TakeSign(absl::string_view text, size_t* pos) {
  if (*pos < text.size() && (text[*pos] == '+' || text[*pos] == '-')) {
    ++*pos;
  }
}

}  // namespace

std::optional<int64_t> ParseInteger(absl::string_view text) {
  size_t pos = 0;
  TakeSign(text, &pos);
  if (TakeDigits(text, &pos) == 0 || pos != text.size()) {
    return std::nullopt;
  }
  int64_t value = 0;
  // SimpleAtoi rejects out-of-range values, which is what we want.
  if (!absl::SimpleAtoi(text, &value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<double> ParseNumber(absl::string_view text) {
  // Check the shape ourselves: SimpleAtod also takes "inf", "nan", hex
  // floats and surrounding spaces.
  size_t pos = 0;
  TakeSign(text, &pos);
  size_t digits = TakeDigits(text, &pos);
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    digits += TakeDigits(text, &pos);
  }
  if (digits == 0) {
    return std::nullopt;
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    TakeSign(text, &pos);
    if (TakeDigits(text, &pos) == 0) {
      return std::nullopt;
    }
  }
  if (pos != text.size()) {
    return std::nullopt;
  }
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<bool> ParseBool(absl::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  return std::nullopt;
}

bool LooksLikeNonString(absl::string_view text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return true;
  }
  const std::string lower = absl::AsciiStrToLower(text);
  // YAML 1.1 booleans and special floats too: other tools (PyYAML) read
  // them as non-strings, and quoting costs nothing.
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf",
                           "+.inf", ".nan"}) {
    if (lower == word) {
      return true;
    }
  }
  return ParseNumber(text).has_value() || absl::StartsWith(lower, "0x") ||
         absl::StartsWith(lower, "0o");
}

std::string FormatNumber(double value) {
  char buffer[64];
  // %g switches to an exponent when the precision is below the number of
  // integer digits (60 at precision 1 is "6e+01"), so start at that count.
  int min_precision = 1;
  if (std::isfinite(value) && std::fabs(value) >= 1) {
    min_precision = std::min(17, static_cast<int>(std::floor(std::log10(std::fabs(value)))) + 1);
  }
  for (int precision = min_precision; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(buffer, &back) && back == value) {
      break;
    }
  }
  std::string text = buffer;
  if (text.find_first_of(".eEn") == std::string::npos) {
    text += ".0";  // "4" -> "4.0": a float field reads as a float.
  }
  return text;
}

}  // namespace vmae::jobspec::internal
