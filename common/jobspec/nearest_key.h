// Edit distance and "did you mean" suggestions for misspelt keys and values.
#ifndef VMAE_COMMON_JOBSPEC_NEAREST_KEY_H_
#define VMAE_COMMON_JOBSPEC_NEAREST_KEY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace vmae::jobspec::internal {

// Optimal-string-alignment distance: Levenshtein plus adjacent
// transpositions, so "modle" is one edit from "model" (typos are mostly
// swaps and single slips).
int EditDistance(absl::string_view a, absl::string_view b);

// The candidate nearest to `word`, ignoring case and '-' vs '_', or nullopt
// when none is close enough to be a plausible typo: at most 1 edit for words
// of up to 3 characters, 2 up to 6, 3 beyond. Ties go to the earlier
// candidate (callers list keys in file order of the proto).
std::optional<std::string> NearestKey(absl::string_view word,
                                      const std::vector<std::string>& candidates);

}  // namespace vmae::jobspec::internal

#endif  // VMAE_COMMON_JOBSPEC_NEAREST_KEY_H_
