// Lexical checks on the paths in a job spec (no file system access).
//
// Jobs name files that the coordinator and agents will read on the user's
// behalf, so a path must not climb out of the data roots (docs "Security").
// ".." is refused outright instead of being resolved: a resolved path would
// depend on symlinks on the machine that resolves it.
#ifndef VMAE_COMMON_JOBSPEC_PATHS_H_
#define VMAE_COMMON_JOBSPEC_PATHS_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace vmae::jobspec::internal {

// Empty when `path` is absolute with no ".." component and no control
// characters; otherwise what is wrong with it.
std::string AbsolutePathProblem(absl::string_view path);

// Empty when `path` is relative (to data.root) with no ".." component and no
// control characters; otherwise what is wrong with it.
std::string RelativePathProblem(absl::string_view path);

// "/data//k400/./" -> "/data/k400": collapses repeated slashes and "."
// components, drops a trailing slash. Does not touch "..".
std::string LexicallyNormal(absl::string_view path);

// True when normalised `path` is `root` or lies below it ("/data/k400" is
// under "/data", "/database" is not).
bool IsUnder(absl::string_view path, absl::string_view root);

// What finetune.init_from names.
enum class InitFromKind { kScratch, kJob, kPath };
inline constexpr absl::string_view kInitFromExpected =
    "job://j-<hex id>[/<checkpoint>], scratch, or an absolute path to a "
    ".pth/.pt/.safetensors file or a checkpoint directory";
// The kind of `value`, or nullopt with `problem` set.
std::optional<InitFromKind> ClassifyInitFrom(absl::string_view value, std::string* problem);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_PATHS_H_
