#include "worker/cpu/allocator_settings.h"

#include <malloc.h>

namespace vmae::cpu {

bool KeepFreedMemoryForReuse() {
#if defined(__GLIBC__)
  // glibc's ceiling for M_MMAP_THRESHOLD (DEFAULT_MMAP_THRESHOLD_MAX).
  constexpr int kMaxMmapThreshold = 4 * 1024 * 1024 * static_cast<int>(sizeof(long));
  // Grow the heap in large steps so a step's allocations do not move the top.
  constexpr int kTopPad = 64 * 1024 * 1024;
  bool ok = mallopt(M_MMAP_THRESHOLD, kMaxMmapThreshold) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, -1) == 1 && ok;  // never give the heap top back
  ok = mallopt(M_TOP_PAD, kTopPad) == 1 && ok;
  return ok;
#else
  return false;
#endif
}

}  // namespace vmae::cpu
