#include "common/random/counter_random.h"

#include <Random123/philox.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace vmae::random {
namespace {

// A precondition broken by the caller is a bug: say which and stop.
[[noreturn]] void Die(const char* message) {
  std::fprintf(stderr, "vmae::random::RandomStream: %s\n", message);
  std::abort();
}

uint64_t SplitMix64(uint64_t x) {
  uint64_t z = x + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

RandomStream::RandomStream(const StreamKey& key) {
  const uint64_t h =
      SplitMix64((static_cast<uint64_t>(key.purpose) << 32) | static_cast<uint64_t>(key.view));
  key_[0] = static_cast<uint32_t>(key.seed) ^ static_cast<uint32_t>(h);
  key_[1] = static_cast<uint32_t>(key.seed >> 32) ^ static_cast<uint32_t>(h >> 32);
  counter_[0] = 0;
  counter_[1] = static_cast<uint32_t>(key.epoch);
  counter_[2] = static_cast<uint32_t>(key.sample);
  counter_[3] = static_cast<uint32_t>(key.sample >> 32);
  for (uint32_t& word : block_) {
    word = 0;
  }
}

uint32_t RandomStream::NextU32() {
  if (used_ == 4) {
    philox4x32_ctr_t ctr = {{counter_[0], counter_[1], counter_[2], counter_[3]}};
    philox4x32_key_t key = {{key_[0], key_[1]}};
    const philox4x32_ctr_t out = philox4x32_R(10, ctr, key);
    for (int i = 0; i < 4; ++i) {
      block_[i] = out.v[i];
    }
    ++counter_[0];  // wraps after 2^32 blocks, as the header specifies
    used_ = 0;
  }
  return block_[used_++];
}

uint64_t RandomStream::NextU64() {
  const uint64_t high = NextU32();
  const uint64_t low = NextU32();
  return (high << 32) | low;
}

double RandomStream::Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

uint64_t RandomStream::Below(uint64_t n) {
  if (n == 0) {
    Die("Below(0): the range [0, n) must not be empty");
  }
  unsigned __int128 m = static_cast<unsigned __int128>(NextU64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
    while (low < threshold) {
      m = static_cast<unsigned __int128>(NextU64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

int64_t RandomStream::IntInclusive(int64_t lo, int64_t hi) {
  if (lo > hi) {
    Die("IntInclusive(lo, hi) with lo > hi");
  }
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
  const uint64_t offset = span == 0 ? NextU64() : Below(span);  // span 0: all 2^64 values
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + offset);
}

double RandomStream::Normal() {
  const double u1 = Uniform();
  const double u2 = Uniform();
  // 1 - u1 lies in (0, 1], so the logarithm is finite.
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace vmae::random
