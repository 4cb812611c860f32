#!/usr/bin/python3
"""Independent re-implementation of common/random/counter_random.h.

Written from the Philox4x32-10 definition (Salmon et al., SC'11) and the
specification in the header, without looking at the C++ code. It prints the
expected values that counter_random_test.cc and permutation_test.cc hold, so
they can be regenerated:  /usr/bin/python3 philox_reference.py
"""
import math

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
PHILOX_M0, PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
PHILOX_W0, PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def philox4x32(ctr, key, rounds=10):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r > 0:
            k0, k1 = (k0 + PHILOX_W0) & M32, (k1 + PHILOX_W1) & M32
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        hi0, lo0 = p0 >> 32, p0 & M32
        hi1, lo1 = p1 >> 32, p1 & M32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return [c0, c1, c2, c3]


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


class Stream:
    def __init__(self, seed, purpose, epoch, sample, view):
        h = splitmix64((purpose << 32) | view)
        self.key = [(seed & M32) ^ (h & M32), (seed >> 32) ^ (h >> 32)]
        self.ctr = [0, epoch & M32, sample & M32, sample >> 32]
        self.n = 0

    def u32(self):
        block = philox4x32([(self.n // 4) & M32] + self.ctr[1:], self.key)
        out = block[self.n % 4]
        self.n += 1
        return out

    def u64(self):
        hi = self.u32()
        return (hi << 32) | self.u32()

    def uniform(self):
        return (self.u64() >> 11) * 2.0 ** -53

    def below(self, n):
        m = self.u64() * n
        if (m & M64) < n:
            t = (2 ** 64 - n) % n
            while (m & M64) < t:
                m = self.u64() * n
        return m >> 64

    def normal(self):
        u1, u2 = self.uniform(), self.uniform()
        return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def epoch_permutation(n, seed, epoch):
    p = list(range(n))
    s = Stream(seed, 1, epoch, 0, 0)
    for i in range(n - 1, 0, -1):
        j = s.below(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def hexs(words):
    return "{" + ", ".join("0x%08x" % w for w in words) + "}"


if __name__ == "__main__":
    print("# Philox4x32-10 known answers")
    for ctr, key in [([0, 0, 0, 0], [0, 0]),
                     ([M32] * 4, [M32] * 2),
                     ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
                      [0xA4093822, 0x299F31D0])]:
        print(hexs(ctr), hexs(key), "->", hexs(philox4x32(ctr, key)))
    print("# Stream{seed=42, kTemporal=2, epoch=3, sample=0x100000007, view=1}: 6 x NextU32")
    s = Stream(42, 2, 3, 0x100000007, 1)
    print(hexs([s.u32() for _ in range(6)]))
    print("# same key: NextU64, Below(10) x 8, Below(1000003) x 2")
    s = Stream(42, 2, 3, 0x100000007, 1)
    print("0x%016x" % s.u64(), [s.below(10) for _ in range(8)], [s.below(1000003) for _ in range(2)])
    print("# Stream{seed=7, kErasing=5, epoch=0, sample=0, view=0}: Uniform x 3, Normal x 2")
    s = Stream(7, 5, 0, 0, 0)
    print(["%.17g" % s.uniform() for _ in range(3)], ["%.17g" % s.normal() for _ in range(2)])
    print("# EpochPermutation(n, seed, epoch)")
    for n, seed, epoch in [(1, 5, 0), (2, 5, 0), (10, 0, 0), (10, 0, 1), (10, 1, 0),
                           (17, 12345, 7), (32, 2**40 + 3, 2)]:
        print(n, seed, epoch, epoch_permutation(n, seed, epoch))
