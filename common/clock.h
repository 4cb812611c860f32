// Clocks. Every time-out in the coordinator (leases, progress deadlines,
// watch delays) reads a monotonic clock, never wall time and never a
// worker's clock. Tests inject FakeClock.
#ifndef VMAE_COMMON_CLOCK_H_
#define VMAE_COMMON_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace vmae {

// Thread-safe: implementations may be read from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time in milliseconds since an arbitrary origin.
  virtual int64_t MonotonicMillis() const = 0;
  // Wall time in milliseconds since the Unix epoch, for display only.
  virtual int64_t WallMillis() const = 0;

  // The process-wide real clock.
  static Clock* Real();
};

class RealClock : public Clock {
 public:
  int64_t MonotonicMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  int64_t WallMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

inline Clock* Clock::Real() {
  static RealClock clock;
  return &clock;
}

// A clock tests advance by hand. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'000'000) : now_(start_ms) {}
  int64_t MonotonicMillis() const override { return now_.load(); }
  int64_t WallMillis() const override { return 1'700'000'000'000 + now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace vmae

#endif  // VMAE_COMMON_CLOCK_H_
