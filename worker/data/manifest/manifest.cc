#include "worker/data/manifest/manifest.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "worker/data/manifest/csv_line.h"

namespace vmae::data {
namespace {

namespace fs = std::filesystem;

enum class Format { kSpace, kCsv };

constexpr char kSpaceHint[] =
    "each line must be 'path label' or 'path start frames' (paths with spaces need the CSV "
    "format 'path,label')";
constexpr char kCsvHint[] = "each line must be 'path,label'";

std::vector<absl::string_view> SpaceTokens(absl::string_view line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

bool IsInteger(absl::string_view token) {
  int64_t unused = 0;
  return absl::SimpleAtoi(token, &unused);
}

bool IsCsvHeader(absl::string_view line) {
  std::string compact;
  for (char c : line) {
    if (c != ' ' && c != '\t') {
      compact.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    }
  }
  return compact == "path,label";
}

// A line the space-separated format accepts: `path label` or `path a b`
// with integer trailing fields.
bool LooksSpaceSeparated(absl::string_view line) {
  const std::vector<absl::string_view> tokens = SpaceTokens(line);
  if (tokens.size() == 2) {
    return IsInteger(tokens[1]);
  }
  return tokens.size() == 3 && IsInteger(tokens[1]) && IsInteger(tokens[2]);
}

Format Detect(absl::string_view first_line) {
  if (IsCsvHeader(first_line)) {
    return Format::kCsv;
  }
  if (LooksSpaceSeparated(first_line)) {
    return Format::kSpace;
  }
  if (first_line.find_first_of(",\"") != absl::string_view::npos) {
    return Format::kCsv;
  }
  return Format::kSpace;  // its errors name the expected form
}

class LineError {
 public:
  LineError(absl::string_view list_name, int line)
      : prefix_(absl::StrCat(list_name, ":", line, ": ")) {}
  absl::Status operator()(absl::string_view problem, absl::string_view hint) const {
    return absl::InvalidArgumentError(absl::StrCat(prefix_, problem, "; ", hint));
  }

 private:
  std::string prefix_;
};

absl::StatusOr<int64_t> ParseLabel(absl::string_view token, const LineError& error,
                                   absl::string_view hint) {
  int64_t label = 0;
  if (!absl::SimpleAtoi(token, &label)) {
    return error(absl::StrCat("label '", token, "' is not an integer"), hint);
  }
  if (label < -1) {
    return error(absl::StrCat("label ", label, " is negative"),
                 "labels are class numbers from 0, or -1 for none");
  }
  return label;
}

// Checks the listed path and joins it to the root.
absl::StatusOr<std::string> JoinPath(const fs::path& root, absl::string_view listed,
                                     const LineError& error) {
  if (listed.empty()) {
    return error("the path is empty", "give the video's path relative to the data root");
  }
  const fs::path relative = fs::path(std::string(listed)).lexically_normal();
  if (relative.is_absolute()) {
    return error(absl::StrCat("path '", listed, "' is absolute"),
                 "list paths relative to the data root");
  }
  if (!relative.empty() && *relative.begin() == "..") {
    return error(absl::StrCat("path '", listed, "' leads out of the data root"),
                 "list only files under the data root, without '..' climbing above it");
  }
  if (relative == "." || relative.empty()) {
    return error(absl::StrCat("path '", listed, "' names the data root itself"),
                 "give a video file's path");
  }
  return (root / relative).lexically_normal().string();
}

absl::StatusOr<ManifestEntry> ParseSpaceLine(absl::string_view line, const fs::path& root,
                                             const LineError& error) {
  const std::vector<absl::string_view> tokens = SpaceTokens(line);
  ManifestEntry entry;
  if (tokens.size() == 2) {
    auto label = ParseLabel(tokens[1], error, kSpaceHint);
    if (!label.ok()) {
      return label.status();
    }
    entry.label = *label;
  } else if (tokens.size() == 3) {
    if (!IsInteger(tokens[1]) || !IsInteger(tokens[2])) {
      return error(absl::StrCat("'", tokens[1], " ", tokens[2],
                                "' are not the integer start and frame count of 'path start "
                                "frames'"),
                   kSpaceHint);
    }
  } else {
    return error(absl::StrCat("found ", tokens.size(), " space-separated fields, expected 2 or 3"),
                 kSpaceHint);
  }
  auto path = JoinPath(root, tokens[0], error);
  if (!path.ok()) {
    return path.status();
  }
  entry.path = *std::move(path);
  return entry;
}

absl::StatusOr<ManifestEntry> ParseCsvLine(absl::string_view line, const fs::path& root,
                                           const LineError& error) {
  auto fields = SplitCsvLine(line);
  if (!fields.ok()) {
    return error(fields.status().message(), kCsvHint);
  }
  if (fields->size() != 2) {
    return error(absl::StrCat("found ", fields->size(), " comma-separated fields, expected 2"),
                 absl::StrCat(kCsvHint, " (quote paths that contain commas)"));
  }
  ManifestEntry entry;
  auto label = ParseLabel((*fields)[1], error, kCsvHint);
  if (!label.ok()) {
    return label.status();
  }
  entry.label = *label;
  auto path = JoinPath(root, (*fields)[0], error);
  if (!path.ok()) {
    return path.status();
  }
  entry.path = *std::move(path);
  return entry;
}

}  // namespace

absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(std::string_view text_in,
                                                         std::string_view list_name_in,
                                                         const std::string& root) {
  // Debian's Abseil has its own string_view type, distinct from std's.
  const absl::string_view text(text_in.data(), text_in.size());
  const absl::string_view list_name(list_name_in.data(), list_name_in.size());
  if (root.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(list_name,
                     ": the data root is empty; set data.root to the folder the "
                     "list's paths are relative to"));
  }
  std::error_code ec;
  const fs::path abs_root = fs::absolute(fs::path(root), ec).lexically_normal();
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(list_name, ": cannot make the data root '", root,
                                                   "' absolute: ", ec.message()));
  }
  std::vector<ManifestEntry> entries;
  bool detected = false;
  Format format = Format::kSpace;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!raw.empty() && raw.back() == '\r') {
      raw.remove_suffix(1);
    }
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty()) {
      continue;
    }
    if (!detected) {
      detected = true;
      format = Detect(line);
      if (IsCsvHeader(line)) {
        continue;
      }
    }
    const LineError error(list_name, line_number);
    auto entry = format == Format::kCsv ? ParseCsvLine(line, abs_root, error)
                                        : ParseSpaceLine(line, abs_root, error);
    if (!entry.ok()) {
      return entry.status();
    }
    entry->line = line_number;
    entries.push_back(*std::move(entry));
  }
  if (entries.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(list_name, ": the list has no videos; add one 'path label' line per video"));
  }
  return entries;
}

absl::StatusOr<std::vector<ManifestEntry>> ReadManifest(const std::string& root,
                                                        const std::string& relative_list_path) {
  const fs::path list = fs::path(root) / relative_list_path;
  std::ifstream in(list, std::ios::binary);
  if (!in) {
    const int err = errno;
    const std::string what =
        absl::StrCat("cannot open the data list '", list.string(), "': ", std::strerror(err));
    if (err == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat(what, "; check data.root and the list's path relative to it"));
    }
    if (err == EACCES) {
      return absl::PermissionDeniedError(
          absl::StrCat(what, "; make it readable by the worker's user"));
    }
    return absl::UnavailableError(absl::StrCat(what, "; check the file system and retry"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::UnavailableError(absl::StrCat("error reading the data list '", list.string(),
                                               "'; check the file system and retry"));
  }
  return ParseManifest(text.str(), relative_list_path, root);
}

}  // namespace vmae::data
