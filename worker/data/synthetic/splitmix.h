// Counter-based random numbers for generated data: splitmix64 (Steele et al.,
// the seeding generator of Java's SplittableRandom). Written out here rather
// than using <random>'s distributions, whose outputs differ between standard
// libraries, so a seed names the same data set everywhere. Header only.
#ifndef VMAE_WORKER_DATA_SYNTHETIC_SPLITMIX_H_
#define VMAE_WORKER_DATA_SYNTHETIC_SPLITMIX_H_

#include <cstdint>

namespace vmae::synthetic {

// The splitmix64 output function: a bijective mix of a 64-bit counter.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Combines a seed with a stream number (e.g. a video's index) into the seed
// of an independent stream.
inline uint64_t MixSeed(uint64_t seed, uint64_t stream) {
  return SplitMix64(SplitMix64(seed) ^ (stream * 0xd1342543de82ef95ULL + 1));
}

// A sequence of numbers from one seed. Not thread-safe; one per thread.
class SplitMixRng {
 public:
  explicit SplitMixRng(uint64_t seed) : state_(seed) {}

  // The standard generator: state += golden gamma, output = mix(state).
  uint64_t Next() {
    const uint64_t x = state_;
    state_ += 0x9e3779b97f4a7c15ULL;
    return SplitMix64(x);
  }
  // Uniform in [0, 1), from the top 53 bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform in [lo, hi]; the modulo bias is negligible for small ranges.
  int Int(int lo, int hi) {
    return lo + static_cast<int>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }

 private:
  uint64_t state_;
};

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_SPLITMIX_H_
