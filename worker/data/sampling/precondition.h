// A broken precondition in the sampling and augmentation code is a bug in
// the caller (sizes come from checked configs and indexed videos): print
// what was wrong and abort, as a CHECK would.
#ifndef VMAE_WORKER_DATA_SAMPLING_PRECONDITION_H_
#define VMAE_WORKER_DATA_SAMPLING_PRECONDITION_H_

#include <cstdio>
#include <cstdlib>

namespace vmae::data {

inline void Require(bool ok, const char* function, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "vmae::data::%s: precondition failed: %s\n", function, what);
    std::abort();
  }
}

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_SAMPLING_PRECONDITION_H_
