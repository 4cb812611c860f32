#include "common/jobspec/nearest_key.h"

#include <algorithm>
#include <cctype>

namespace vmae::jobspec::internal {
namespace {

// Users write "Depth", "num-heads" or "embedDim"; compare in one spelling so
// such variants count as (near) exact matches.
std::string Fold(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    out.push_back(c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

int MaxEditsFor(size_t length) {
  if (length <= 3) {
    return 1;
  }
  if (length <= 6) {
    return 2;
  }
  return 3;
}

}  // namespace

int EditDistance(absl::string_view a, absl::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  // Full table: keys are short, and the transposition rule needs row i-2.
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = 0; i <= n; ++i) {
    d[i][0] = static_cast<int>(i);
  }
  for (size_t j = 0; j <= m; ++j) {
    d[0][j] = static_cast<int>(j);
  }
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::optional<std::string> NearestKey(absl::string_view word,
                                      const std::vector<std::string>& candidates) {
  const std::string folded = Fold(word);
  std::optional<std::string> best;
  int best_distance = MaxEditsFor(folded.size()) + 1;
  for (const std::string& candidate : candidates) {
    const int distance = EditDistance(folded, Fold(candidate));
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

}  // namespace vmae::jobspec::internal
