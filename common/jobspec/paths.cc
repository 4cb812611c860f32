#include "common/jobspec/paths.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmae::jobspec::internal {
namespace {

constexpr absl::string_view kJobScheme = "job://";
constexpr absl::string_view kScratch = "scratch";

bool HasParentComponent(absl::string_view path) {
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      return true;
    }
  }
  return false;
}

// A NUL would cut the path short in every C API that later opens it.
bool HasControlCharacter(absl::string_view path) {
  for (char c : path) {
    if (absl::ascii_iscntrl(static_cast<unsigned char>(c))) {
      return true;
    }
  }
  return false;
}

// Names a checkpoint under job://<id>/ ("latest", "best", an id).
bool IsCheckpointName(absl::string_view name) {
  if (name.empty() || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

bool IsJobId(absl::string_view id) {
  if (!absl::ConsumePrefix(&id, "j-") || id.empty()) {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && !(c >= 'a' && c <= 'f')) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string AbsolutePathProblem(absl::string_view path) {
  if (path.empty()) {
    return "is empty";
  }
  if (HasControlCharacter(path)) {
    return "contains a control character";
  }
  if (path.front() != '/') {
    return absl::StrCat("'", path, "' is not an absolute path");
  }
  if (HasParentComponent(path)) {
    return absl::StrCat("'", path, "' contains '..'");
  }
  return "";
}

std::string RelativePathProblem(absl::string_view path) {
  if (path.empty()) {
    return "is empty";
  }
  if (HasControlCharacter(path)) {
    return "contains a control character";
  }
  if (path.front() == '/') {
    return absl::StrCat("'", path, "' starts with '/'");
  }
  if (HasParentComponent(path)) {
    return absl::StrCat("'", path, "' contains '..'");
  }
  return "";
}

std::string LexicallyNormal(absl::string_view path) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part != ".") {
      parts.push_back(part);
    }
  }
  const std::string joined = absl::StrJoin(parts, "/");
  if (absl::StartsWith(path, "/")) {
    return absl::StrCat("/", joined);
  }
  return joined.empty() ? "." : joined;
}

bool IsUnder(absl::string_view path, absl::string_view root) {
  const std::string p = LexicallyNormal(path);
  const std::string r = LexicallyNormal(root);
  if (r == "/") {
    return absl::StartsWith(p, "/");
  }
  return p == r || absl::StartsWith(p, absl::StrCat(r, "/"));
}

std::optional<InitFromKind> ClassifyInitFrom(absl::string_view value, std::string* problem) {
  if (value == kScratch) {
    return InitFromKind::kScratch;
  }
  if (absl::string_view rest = value; absl::ConsumePrefix(&rest, kJobScheme)) {
    const size_t slash = rest.find('/');
    const absl::string_view id = rest.substr(0, slash);
    if (!IsJobId(id)) {
      *problem = absl::StrCat("'", id, "' in '", value, "' is not a job id");
      return std::nullopt;
    }
    if (slash != absl::string_view::npos && !IsCheckpointName(rest.substr(slash + 1))) {
      *problem = absl::StrCat("'", rest.substr(slash + 1), "' in '", value,
                              "' is not a checkpoint name");
      return std::nullopt;
    }
    return InitFromKind::kJob;
  }
  if (value.empty() || value.front() != '/') {
    *problem = value.empty() ? "is empty"
                             : absl::StrCat("'", value,
                                            "' is not a job reference, scratch or an absolute path");
    return std::nullopt;
  }
  if (std::string bad = AbsolutePathProblem(value); !bad.empty()) {
    *problem = bad;
    return std::nullopt;
  }
  // A file must be a format we import; a name without an extension (or with
  // a trailing slash) is taken as one of our checkpoint directories.
  const absl::string_view last = value.substr(value.rfind('/') + 1);
  const size_t dot = last.rfind('.');
  if (dot != absl::string_view::npos && dot != 0) {
    const absl::string_view extension = last.substr(dot);
    if (extension != ".pth" && extension != ".pt" && extension != ".safetensors") {
      *problem = absl::StrCat("'", value, "' has the extension '", extension,
                              "' (end a directory path with '/')");
      return std::nullopt;
    }
  }
  return InitFromKind::kPath;
}

}  // namespace vmae::jobspec::internal
