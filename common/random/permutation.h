// The epoch permutation the coordinator's data plan walks: a Fisher-Yates
// shuffle of [0, n) driven by RandomStream{seed, kShuffle, epoch, 0, 0}.
#ifndef VMAE_COMMON_RANDOM_PERMUTATION_H_
#define VMAE_COMMON_RANDOM_PERMUTATION_H_

#include <cstdint>
#include <vector>

namespace vmae::random {

// for i = n-1 down to 1: j = Below(i + 1); swap(p[i], p[j]).
std::vector<int64_t> EpochPermutation(int64_t n, uint64_t seed, uint64_t epoch);

}  // namespace vmae::random

#endif  // VMAE_COMMON_RANDOM_PERMUTATION_H_
