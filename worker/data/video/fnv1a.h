// 64-bit FNV-1a: the index file checksum (video_index.cc) and the index
// cache's file names (index_cache.cc). Fast and stable across builds and
// machines, which std::hash is not; not for anything adversarial.
#ifndef VMAE_WORKER_DATA_VIDEO_FNV1A_H_
#define VMAE_WORKER_DATA_VIDEO_FNV1A_H_

#include <cstdint>
#include <string_view>

namespace vmae::video {

inline uint64_t Fnv1a(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_FNV1A_H_
