#include "common/random/permutation.h"

#include <cstddef>
#include <numeric>
#include <utility>

#include "common/random/counter_random.h"

namespace vmae::random {

std::vector<int64_t> EpochPermutation(int64_t n, uint64_t seed, uint64_t epoch) {
  std::vector<int64_t> p(n > 0 ? static_cast<std::size_t>(n) : 0);
  std::iota(p.begin(), p.end(), int64_t{0});
  RandomStream rng(StreamKey{seed, Purpose::kShuffle, epoch, 0, 0});
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return p;
}

}  // namespace vmae::random
