// Collects every problem found in a job spec and renders them as one status.
#ifndef VMAE_COMMON_JOBSPEC_DIAGNOSTICS_H_
#define VMAE_COMMON_JOBSPEC_DIAGNOSTICS_H_

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace vmae::jobspec::internal {

// Where a value came from.
struct Location {
  enum class Origin {
    kNone,      // a proto spec: errors carry only the field path.
    kFile,      // a YAML node: "<source>:<line>:<column>".
    kOverride,  // a --set flag: "--set <text>".
  };
  Origin origin = Origin::kNone;
  std::string source;  // file name (kFile) or override text (kOverride).
  int line = 0;        // 0-based, as yaml-cpp's Mark; printed 1-based.
  int column = 0;
  int override_index = 0;  // order of the --set flag, for sorting.
  // True when the field itself was written by the user (its own node or
  // override); false when this is the location of an enclosing section or of
  // the file start, used for values that came from presets or defaults.
  bool exact = false;

  std::string ToString() const;
};

// Maps a field path ("optimizer.betas") to the best location to blame.
using Locator = std::function<Location(absl::string_view path)>;

// The problems found so far. Not thread-safe (one per parse).
class Diagnostics {
 public:
  // Records "<location>: <path>: <what>; expected <expected>[; did you mean
  // '<suggestion>'?]" and marks `path` as bad (see IsBlocked).
  void Add(const Location& location, absl::string_view path, absl::string_view what,
           absl::string_view expected, absl::string_view suggestion = {});

  // Marks a path as already reported without adding a line, e.g. preset
  // fields of an unknown arch, so later rules stay quiet about them.
  void Block(absl::string_view path);

  // True when `path` or one of its parent sections already has a problem.
  // Rules skip blocked paths so that one mistake gives one line, not a
  // cascade (a "depth: twelve" must not also report "depth 0 < 1").
  bool IsBlocked(absl::string_view path) const;

  // Drops the problems whose field path is not `prefix` or under it (e.g.
  // "model"), for callers that validate one section of a spec.
  void RetainSection(absl::string_view prefix);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // OK when empty, else INVALID_ARGUMENT with one line per problem: file
  // locations in line order first, then overrides in flag order, then the
  // problems without a location in the order found.
  absl::Status ToStatus() const;

 private:
  struct Entry {
    Location location;
    std::string text;
    std::string path;
    int sequence;
  };
  std::vector<Entry> entries_;
  std::set<std::string, std::less<>> blocked_;
};

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_DIAGNOSTICS_H_
