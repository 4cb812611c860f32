// The seed of a clip's encoder mask: the first 64 bits of its counter-based
// stream (seed, kMask, epoch, sample, view). Training and `vmae preview`
// both draw masks from it, so the preview shows the mask training uses.
#ifndef VMAE_WORKER_DATA_LOADER_MASK_SEED_H_
#define VMAE_WORKER_DATA_LOADER_MASK_SEED_H_

#include <cstdint>

#include "common/random/counter_random.h"

namespace vmae::data {

inline uint64_t MaskSeed(uint64_t seed, uint64_t epoch, int64_t sample, int view) {
  random::RandomStream stream(random::StreamKey{seed, random::Purpose::kMask, epoch,
                                                static_cast<uint64_t>(sample),
                                                static_cast<uint32_t>(view)});
  return stream.NextU64();
}

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_MASK_SEED_H_
