// Progress display for `vmaectl watch` and `vmaectl download`: pure
// formatting functions (unit-tested), a step-rate estimator for the ETA, and
// a throttled single-line bar redrawn with '\r'. Used only on a terminal.
#ifndef VMAE_CLIENT_PROGRESS_BAR_H_
#define VMAE_CLIENT_PROGRESS_BAR_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/time/time.h"

namespace vmae::client {

// What the training progress line shows.
struct TrainingProgress {
  int64_t step = 0;
  int64_t total_steps = 0;  // 0: unknown (no bar, no percentage).
  std::optional<double> loss;
  std::optional<double> clips_per_second;
  std::optional<absl::Duration> eta;
};

// "[#######.......] 1200/5000 24% loss 0.812 12.3 clips/s ETA 5m12s".
// The bar has bar_width cells, filled floor(bar_width * step / total); the
// percentage is floor(100 * step / total); both clamp to [0, 100%]. Parts
// whose value is unknown are left out; without a total it reads
// "step 1200 loss 0.812 ...".
std::string FormatTrainingProgress(const TrainingProgress& p, int bar_width = 30);

// What a file transfer line shows.
struct TransferProgress {
  std::string name;
  int64_t done_bytes = 0;
  int64_t total_bytes = 0;
  std::optional<double> bytes_per_second;
  std::optional<absl::Duration> eta;
};

// "model.safetensors [######........] 12.0 MiB/48.0 MiB 25% 4.0 MiB/s ETA 9s".
std::string FormatTransferProgress(const TransferProgress& p, int bar_width = 30);

// Rate of a growing counter (steps, bytes) over a sliding time window, and
// the time left to reach a total at that rate. A counter that goes down (a
// restart resumed from an earlier checkpoint) starts a new window.
// Thread-compatible.
class RateEstimator {
 public:
  explicit RateEstimator(absl::Duration window = absl::Seconds(60)) : window_(window) {}
  void Add(absl::Time time, int64_t value);
  // Units per second; nullopt until two samples span some time.
  std::optional<double> PerSecond() const;
  // (total - last value) / rate; nullopt when the rate or total is unknown.
  std::optional<absl::Duration> Eta(int64_t total) const;

 private:
  absl::Duration window_;
  std::deque<std::pair<absl::Time, int64_t>> samples_;
};

// One line redrawn in place with '\r', at most once per min_interval unless
// forced. Clear() blanks it so the caller can print a normal line above;
// Redraw() puts the last line back. Thread-compatible.
class ProgressBar {
 public:
  explicit ProgressBar(std::ostream& out, absl::Duration min_interval = absl::Milliseconds(100))
      : out_(out), min_interval_(min_interval) {}
  ~ProgressBar() { Finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Returns whether the line was drawn (false: throttled).
  bool Update(const std::string& line, absl::Time now, bool force = false);
  void Clear();
  void Redraw();
  // Ends the line (a newline after the bar, if one is shown).
  void Finish();

 private:
  std::ostream& out_;
  absl::Duration min_interval_;
  absl::Time last_draw_ = absl::InfinitePast();
  std::string line_;
  size_t shown_width_ = 0;
};

}  // namespace vmae::client

#endif  // VMAE_CLIENT_PROGRESS_BAR_H_
