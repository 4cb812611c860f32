// ValidateDataPaths: where a job may read from (docs "Security": nothing
// outside the configured data roots is read).
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jobspec/jobspec.h"
#include "common/jobspec/paths.h"

namespace vmae::jobspec {
namespace {

using internal::AbsolutePathProblem;
using internal::IsUnder;
using internal::RelativePathProblem;

// Problems by what the caller can do about them: fix the spec
// (INVALID_ARGUMENT), create the data (NOT_FOUND), fix permissions
// (PERMISSION_DENIED).
struct Problems {
  std::vector<std::string> invalid;
  std::vector<std::string> missing;
  std::vector<std::string> denied;
};

// realpath(3) with a null buffer mallocs the result; own it.
std::optional<std::string> RealPath(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(realpath(path.c_str(), nullptr), &std::free);
  if (resolved == nullptr) {
    return std::nullopt;
  }
  return std::string(resolved.get());
}

bool UnderAny(const std::string& path, const std::vector<std::string>& roots) {
  for (const std::string& root : roots) {
    if (IsUnder(path, root)) {
      return true;
    }
  }
  return false;
}

enum class Want { kDirectory, kFile, kEither };

// Checks that `path` (the value of `field`) exists, has the wanted type, is
// readable, and (through symlinks) still lies under a resolved data root.
void CheckOnDisk(absl::string_view field, const std::string& path, Want want,
                 const std::vector<std::string>& real_roots, bool have_roots, Problems* problems) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    const int error = errno;
    const std::string why = std::strerror(error);
    if (error == EACCES) {
      problems->denied.push_back(
          absl::StrCat(field, ": cannot reach '", path, "': ", why, "; expected a readable path"));
    } else {
      problems->missing.push_back(absl::StrCat(field, ": '", path, "' does not exist (", why,
                                               "); expected an existing path"));
    }
    return;
  }
  const bool is_dir = S_ISDIR(info.st_mode);
  if (want == Want::kDirectory && !is_dir) {
    problems->invalid.push_back(
        absl::StrCat(field, ": '", path, "' is not a directory; expected a directory"));
    return;
  }
  if (want == Want::kFile && !S_ISREG(info.st_mode)) {
    problems->invalid.push_back(
        absl::StrCat(field, ": '", path, "' is not a regular file; expected a list file"));
    return;
  }
  // A directory must also be searchable to reach the files in it.
  if (access(path.c_str(), is_dir ? (R_OK | X_OK) : R_OK) != 0) {
    problems->denied.push_back(absl::StrCat(field, ": '", path, "' is not readable (",
                                            std::strerror(errno), "); expected a readable path"));
    return;
  }
  if (have_roots) {
    const std::optional<std::string> real = RealPath(path);
    if (!real.has_value() || !UnderAny(*real, real_roots)) {
      problems->invalid.push_back(absl::StrCat(
          field, ": '", path, "' resolves to '", real.value_or("?"),
          "', outside the data roots; expected a path that stays under the data roots"));
    }
  }
}

}  // namespace

absl::Status ValidateDataPaths(const v1::JobSpec& spec, const std::vector<std::string>& data_roots,
                               bool check_exists) {
  Problems problems;
  const v1::DataSpec& data = spec.data();
  const std::string roots_text =
      data_roots.empty() ? "" : absl::StrCat("a path under ", absl::StrJoin(data_roots, " or "));

  for (const std::string& root : data_roots) {
    if (std::string bad = AbsolutePathProblem(root); !bad.empty()) {
      problems.invalid.push_back(
          absl::StrCat("--data-root: ", bad, "; expected an absolute directory path"));
    }
  }
  const std::string root_problem = AbsolutePathProblem(data.root());
  if (!root_problem.empty()) {
    problems.invalid.push_back(
        absl::StrCat("data.root: ", root_problem, "; expected an absolute directory path"));
  } else if (!data_roots.empty() && !UnderAny(data.root(), data_roots)) {
    problems.invalid.push_back(absl::StrCat("data.root: '", data.root(),
                                            "' is outside the data roots; expected ", roots_text));
  }
  const std::string train_problem = RelativePathProblem(data.train());
  if (!train_problem.empty()) {
    problems.invalid.push_back(
        absl::StrCat("data.train: ", train_problem, "; expected a path relative to data.root"));
  }
  const std::string val_problem = data.val().empty() ? "" : RelativePathProblem(data.val());
  if (!val_problem.empty()) {
    problems.invalid.push_back(
        absl::StrCat("data.val: ", val_problem, "; expected a path relative to data.root"));
  }
  // A checkpoint path is read by the agents too, so it obeys the same roots.
  std::string init_problem;
  const bool init_is_path =
      spec.kind() == v1::JOB_KIND_FINETUNE &&
      internal::ClassifyInitFrom(spec.finetune().init_from(), &init_problem) ==
          internal::InitFromKind::kPath;
  if (init_is_path && !data_roots.empty() && !UnderAny(spec.finetune().init_from(), data_roots)) {
    problems.invalid.push_back(absl::StrCat("finetune.init_from: '", spec.finetune().init_from(),
                                            "' is outside the data roots; expected ", roots_text));
  }

  if (check_exists && problems.invalid.empty()) {
    std::vector<std::string> real_roots;
    for (const std::string& root : data_roots) {
      if (std::optional<std::string> real = RealPath(root); real.has_value()) {
        real_roots.push_back(*real);
      }
    }
    const bool have_roots = !data_roots.empty();
    const size_t before = problems.missing.size() + problems.denied.size() + problems.invalid.size();
    CheckOnDisk("data.root", data.root(), Want::kDirectory, real_roots, have_roots, &problems);
    // The lists are only worth checking inside a usable root.
    if (problems.missing.size() + problems.denied.size() + problems.invalid.size() == before) {
      const std::string root = internal::LexicallyNormal(data.root());
      CheckOnDisk("data.train", absl::StrCat(root, "/", data.train()), Want::kFile, real_roots,
                  have_roots, &problems);
      if (!data.val().empty()) {
        CheckOnDisk("data.val", absl::StrCat(root, "/", data.val()), Want::kFile, real_roots,
                    have_roots, &problems);
      }
    }
    if (init_is_path) {
      CheckOnDisk("finetune.init_from", spec.finetune().init_from(), Want::kEither, real_roots,
                  have_roots, &problems);
    }
  }

  std::vector<std::string> lines = problems.invalid;
  lines.insert(lines.end(), problems.missing.begin(), problems.missing.end());
  lines.insert(lines.end(), problems.denied.begin(), problems.denied.end());
  const std::string message = absl::StrJoin(lines, "\n");
  if (!problems.invalid.empty()) {
    return absl::InvalidArgumentError(message);
  }
  if (!problems.missing.empty()) {
    return absl::NotFoundError(message);
  }
  if (!problems.denied.empty()) {
    return absl::PermissionDeniedError(message);
  }
  return absl::OkStatus();
}

}  // namespace vmae::jobspec
