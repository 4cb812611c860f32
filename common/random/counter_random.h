// Counter-based randomness: every random number in a job is a pure function of
// (seed, purpose, epoch, sample, view, draw number), computed with the
// Philox4x32-10 generator (Salmon et al., SC'11; Random123's implementation).
// No generator state exists to save, share or restore: any rank, thread or
// restarted process that asks for the same coordinates gets the same numbers,
// whatever the thread count or number of workers. The streams are specified
// here, bit for bit, so results do not change between library versions (unlike
// std::shuffle or std::uniform_int_distribution).
#ifndef VMAE_COMMON_RANDOM_COUNTER_RANDOM_H_
#define VMAE_COMMON_RANDOM_COUNTER_RANDOM_H_

#include <cstdint>

namespace vmae::random {

// What the numbers are for; each purpose is an independent stream.
enum class Purpose : uint32_t {
  kShuffle = 1,      // the epoch permutation (coordinator)
  kTemporal = 2,     // which frames a clip takes
  kSpatial = 3,      // crop position, scale and aspect; flip
  kRandAugment = 4,  // RandAugment's op choice and magnitudes
  kErasing = 5,      // random erasing boxes and noise
  kMask = 6,         // the encoder (tube/random) mask
  kDecoderMask = 7,  // the decoder (running cell) mask
  kMixup = 8,        // mixup / cutmix
};

struct StreamKey {
  uint64_t seed = 0;
  Purpose purpose = Purpose::kShuffle;
  uint64_t epoch = 0;
  uint64_t sample = 0;  // the sample's index in the data list
  uint32_t view = 0;    // which augmented copy (repeated augmentation), test view
};

// A sequence of random numbers for one key. Draw n of the stream is output
// word (n % 4) of Philox4x32-10 with key {seed low, seed high} ^ hashed
// purpose/view, and counter {n / 4, epoch, sample low, sample high}.
//
// The details, fixed here as the specification:
//   h = SplitMix64((uint64(purpose) << 32) | view), where SplitMix64(x) is
//       z = x + 0x9e3779b97f4a7c15;
//       z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
//       z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
//       z ^ (z >> 31)                                  (all mod 2^64)
//   key     = {uint32(seed) ^ uint32(h), uint32(seed >> 32) ^ uint32(h >> 32)}
//   counter = {n / 4, uint32(epoch), uint32(sample), uint32(sample >> 32)}
// SplitMix64 is a bijection, so different (purpose, view) pairs of one seed
// always get different keys. Only the low 32 bits of the epoch are used, and
// n / 4 wraps after 2^32 blocks (2^34 draws); neither limit is reached by a
// job (a clip takes hundreds of draws).
// Derived draws (each consumes whole 32-bit draws, in order):
//   NextU64   = (uint64(a) << 32) | b for draws a, b.
//   Uniform   = (NextU64() >> 11) * 2^-53.
//   Below(n)  = Lemire: m = uint128(NextU64()) * n; while uint64(m) <
//               (2^64 - n) % n, redraw; result m >> 64.
//   IntInclusive(lo, hi) = lo + Below(hi - lo + 1) in 64-bit two's
//               complement; the full range [INT64_MIN, INT64_MAX] is NextU64().
//   Normal    = u1 = Uniform(), u2 = Uniform();
//               sqrt(-2 ln(1 - u1)) * cos(2 pi u2).
// Not thread-safe: one stream per thread (streams are cheap to make).
class RandomStream {
 public:
  explicit RandomStream(const StreamKey& key);

  uint32_t NextU32();
  uint64_t NextU64();  // two draws: high word first
  // Uniform in [0, 1) with 53 random bits (two draws).
  double Uniform();
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n), n > 0, without modulo bias (Lemire's method
  // with rejection on 64-bit draws).
  uint64_t Below(uint64_t n);
  // Uniform integer in [lo, hi] inclusive.
  int64_t IntInclusive(int64_t lo, int64_t hi);
  // true with probability p.
  bool Bernoulli(double p) { return Uniform() < p; }
  // Standard normal (Box-Muller, using two Uniform() draws per value, no caching).
  double Normal();

 private:
  uint32_t key_[2];
  uint32_t counter_[4];
  uint32_t block_[4];
  int used_ = 4;  // words of block_ consumed
};

}  // namespace vmae::random

#endif  // VMAE_COMMON_RANDOM_COUNTER_RANDOM_H_
