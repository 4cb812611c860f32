#include "client/progress_bar.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/output.h"

namespace vmae::client {
namespace {

std::string Bar(int64_t done, int64_t total, int width) {
  int64_t filled = 0;
  if (total > 0) {
    int64_t clamped = std::clamp<int64_t>(done, 0, total);
    // 128-bit-safe enough: width is small, so clamp first, then scale.
    filled = static_cast<int64_t>(static_cast<long double>(clamped) * width / total);
  }
  std::string bar = "[";
  bar.append(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '.');
  bar += ']';
  return bar;
}

int64_t Percent(int64_t done, int64_t total) {
  int64_t clamped = std::clamp<int64_t>(done, 0, total);
  return static_cast<int64_t>(static_cast<long double>(clamped) * 100 / total);
}

}  // namespace

std::string FormatTrainingProgress(const TrainingProgress& p, int bar_width) {
  std::string line;
  if (p.total_steps > 0) {
    line = absl::StrCat(Bar(p.step, p.total_steps, bar_width), " ", p.step, "/", p.total_steps, " ",
                        Percent(p.step, p.total_steps), "%");
  } else {
    line = absl::StrCat("step ", p.step);
  }
  if (p.loss.has_value()) {
    absl::StrAppend(&line, " loss ", FormatLoss(*p.loss));
  }
  if (p.clips_per_second.has_value()) {
    absl::StrAppend(&line, absl::StrFormat(" %.1f clips/s", *p.clips_per_second));
  }
  if (p.eta.has_value()) {
    absl::StrAppend(&line, " ETA ", FormatEta(*p.eta));
  }
  return line;
}

std::string FormatTransferProgress(const TransferProgress& p, int bar_width) {
  std::string line = p.name;
  if (p.total_bytes > 0) {
    absl::StrAppend(&line, " ", Bar(p.done_bytes, p.total_bytes, bar_width), " ",
                    FormatBytes(p.done_bytes), "/", FormatBytes(p.total_bytes), " ",
                    Percent(p.done_bytes, p.total_bytes), "%");
  } else {
    absl::StrAppend(&line, " ", FormatBytes(p.done_bytes));
  }
  if (p.bytes_per_second.has_value()) {
    absl::StrAppend(&line, " ", FormatBytes(static_cast<int64_t>(*p.bytes_per_second)), "/s");
  }
  if (p.eta.has_value()) {
    absl::StrAppend(&line, " ETA ", FormatEta(*p.eta));
  }
  return line;
}

void RateEstimator::Add(absl::Time time, int64_t value) {
  if (!samples_.empty() && (value < samples_.back().second || time < samples_.back().first)) {
    samples_.clear();
  }
  samples_.emplace_back(time, value);
  // Keep the oldest sample inside the window, but always two to measure.
  while (samples_.size() > 2 && time - samples_[1].first >= window_) {
    samples_.pop_front();
  }
}

std::optional<double> RateEstimator::PerSecond() const {
  if (samples_.size() < 2) {
    return std::nullopt;
  }
  double seconds = absl::ToDoubleSeconds(samples_.back().first - samples_.front().first);
  if (seconds <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(samples_.back().second - samples_.front().second) / seconds;
}

std::optional<absl::Duration> RateEstimator::Eta(int64_t total) const {
  std::optional<double> rate = PerSecond();
  if (!rate.has_value() || *rate <= 0 || total <= 0 || samples_.empty()) {
    return std::nullopt;
  }
  int64_t left = std::max<int64_t>(0, total - samples_.back().second);
  return absl::Seconds(static_cast<double>(left) / *rate);
}

bool ProgressBar::Update(const std::string& line, absl::Time now, bool force) {
  line_ = line;
  if (!force && now - last_draw_ < min_interval_) {
    return false;
  }
  last_draw_ = now;
  Redraw();
  return true;
}

void ProgressBar::Redraw() {
  if (line_.empty()) {
    return;
  }
  out_ << '\r' << line_;
  if (line_.size() < shown_width_) {
    // Blank what is left of a longer previous line.
    out_ << std::string(shown_width_ - line_.size(), ' ') << '\r' << line_;
  }
  out_.flush();
  shown_width_ = line_.size();
}

void ProgressBar::Clear() {
  if (shown_width_ == 0) {
    return;
  }
  out_ << '\r' << std::string(shown_width_, ' ') << '\r';
  out_.flush();
  shown_width_ = 0;
}

void ProgressBar::Finish() {
  if (shown_width_ == 0) {
    return;
  }
  out_ << '\n';
  out_.flush();
  shown_width_ = 0;
  line_.clear();
}

}  // namespace vmae::client
