#include "worker/data/manifest/csv_line.h"

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace vmae::data {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    while (i < line.size() && IsBlank(line[i])) {
      ++i;
    }
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const size_t open = i++;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("the quote at column ", open + 1,
                         " is never closed; close it with '\"' "
                         "(write \"\" for a quote inside a quoted field)"));
      }
      while (i < line.size() && IsBlank(line[i])) {
        ++i;
      }
      if (i < line.size() && line[i] != ',') {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected text after the quoted field at column ", i + 1,
                         "; a quoted field must be followed by ',' or the end of the line"));
      }
    } else {
      const size_t start = i;
      while (i < line.size() && line[i] != ',') {
        ++i;
      }
      size_t end = i;
      while (end > start && IsBlank(line[end - 1])) {
        --end;
      }
      field = std::string(line.substr(start, end - start));
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) {
      return fields;
    }
    ++i;  // the comma
  }
}

}  // namespace vmae::data
