#include "worker/train/lr_schedule.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace vmae::train {
namespace {

// Bounds that keep every product below in int64 range (and schedules
// realistic: 2^40 iterations is far beyond any run).
constexpr int64_t kMaxIterations = int64_t{1} << 40;
constexpr int64_t kMaxGlobalBatch = int64_t{1} << 20;

// math.pi
constexpr double kPi = 3.141592653589793;

}  // namespace

absl::StatusOr<CosineSchedule> CosineSchedule::Create(const CosineScheduleOptions& options) {
  if (!std::isfinite(options.base_value) || !std::isfinite(options.final_value) ||
      !std::isfinite(options.start_warmup_value)) {
    return absl::InvalidArgumentError("cosine schedule: values must be finite");
  }
  if (options.epochs <= 0 || options.niter_per_ep <= 0 || options.warmup_epochs < 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cosine schedule: need epochs > 0, niter_per_ep > 0, warmup_epochs >= 0; got %d, %d, %d",
        options.epochs, options.niter_per_ep, options.warmup_epochs));
  }
  if (options.epochs > kMaxIterations / options.niter_per_ep ||
      options.warmup_epochs > kMaxIterations / options.niter_per_ep ||
      options.warmup_steps > kMaxIterations) {
    return absl::InvalidArgumentError("cosine schedule: too many iterations");
  }
  CosineSchedule schedule;
  schedule.options_ = options;
  schedule.total_iters_ = options.epochs * options.niter_per_ep;
  schedule.warmup_iters_ = options.warmup_epochs * options.niter_per_ep;
  if (options.warmup_steps > 0) {
    schedule.warmup_iters_ = options.warmup_steps;
    // The authors build the warmup part only `if warmup_epochs > 0`; without
    // it their final `assert len(schedule) == epochs * niter_per_ep` fails.
    if (options.warmup_epochs == 0) {
      return absl::InvalidArgumentError(
          "cosine schedule: warmup_steps > 0 needs warmup_epochs > 0 (the authors' "
          "cosine_scheduler then builds no warmup and fails its length assert)");
    }
  }
  if (schedule.warmup_iters_ > schedule.total_iters_) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cosine schedule: %d warmup iterations exceed the %d iterations of the schedule",
        schedule.warmup_iters_, schedule.total_iters_));
  }
  return schedule;
}

double CosineSchedule::At(int64_t it) const {
  TORCH_CHECK(it >= 0, "CosineSchedule::At: negative iteration ", it);
  if (it >= total_iters_) {
    it = total_iters_ - 1;
  }
  const double base = options_.base_value;
  const double final_value = options_.final_value;
  if (it < warmup_iters_) {
    // np.linspace(start, stop, num) in numpy 1.24:
    //   div = num - 1; delta = stop - start; y = arange(num) * 1.0
    //   if div > 0: step = delta / div
    //               y = (y / div) * delta if step == 0 else y * step
    //   else:       y = y * delta
    //   y += start; if num > 1: y[-1] = stop
    const double start = options_.start_warmup_value;
    const int64_t num = warmup_iters_;
    const auto y = static_cast<double>(it);
    if (num > 1 && it == num - 1) {
      return base;
    }
    const double delta = base - start;
    const int64_t div = num - 1;
    double value;
    if (div > 0) {
      const double step = delta / static_cast<double>(div);
      if (step == 0.0) {
        value = (y / static_cast<double>(div)) * delta;
      } else {
        value = y * step;
      }
    } else {
      value = y * delta;
    }
    return value + start;
  }
  // Python: final_value + 0.5 * (base_value - final_value) *
  //         (1 + math.cos(math.pi * i / (len(iters))))
  const auto i = static_cast<double>(it - warmup_iters_);
  const auto n = static_cast<double>(total_iters_ - warmup_iters_);
  return final_value + 0.5 * (base - final_value) * (1.0 + std::cos(kPi * i / n));
}

std::vector<double> CosineSchedule::Values() const {
  std::vector<double> values;
  values.reserve(static_cast<size_t>(total_iters_));
  for (int64_t it = 0; it < total_iters_; ++it) {
    values.push_back(At(it));
  }
  return values;
}

double ScaleLrByBatch(double lr_per_256, int64_t global_batch) {
  // Python: args.lr * total_batch_size / 256 (left to right).
  return lr_per_256 * static_cast<double>(global_batch) / 256.0;
}

absl::StatusOr<int64_t> GlobalBatch(int64_t per_rank_batch, int64_t world_size,
                                    int64_t accum_steps) {
  if (per_rank_batch < 1 || world_size < 1 || accum_steps < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "global batch: per-rank batch, world size and accumulation steps must be >= 1; "
        "got %d, %d, %d",
        per_rank_batch, world_size, accum_steps));
  }
  if (per_rank_batch > kMaxGlobalBatch || world_size > kMaxGlobalBatch ||
      accum_steps > kMaxGlobalBatch ||
      per_rank_batch * world_size > kMaxGlobalBatch / accum_steps) {
    return absl::InvalidArgumentError(absl::StrFormat("global batch: %d x %d x %d is too large",
                                                      per_rank_batch, world_size, accum_steps));
  }
  return per_rank_batch * world_size * accum_steps;
}

absl::StatusOr<TrainSchedule> TrainSchedule::Create(const TrainScheduleOptions& options) {
  if (options.global_batch < 1 || options.global_batch > kMaxGlobalBatch) {
    return absl::InvalidArgumentError(
        absl::StrFormat("train schedule: global_batch must be in [1, %d], got %d", kMaxGlobalBatch,
                        options.global_batch));
  }
  if (options.steps_per_epoch < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "train schedule: steps_per_epoch must be >= 1 (is the data list shorter than one "
        "global batch of %d?), got %d",
        options.global_batch, options.steps_per_epoch));
  }
  if (!(options.lr >= 0.0) || !(options.min_lr >= 0.0) || !(options.weight_decay >= 0.0) ||
      (options.weight_decay_end.has_value() && !(*options.weight_decay_end >= 0.0))) {
    return absl::InvalidArgumentError(
        "train schedule: lr, min_lr, weight_decay and weight_decay_end must be >= 0");
  }
  const double peak_lr = ScaleLrByBatch(options.lr, options.global_batch);
  const double final_lr = ScaleLrByBatch(options.min_lr, options.global_batch);

  CosineScheduleOptions lr;
  lr.base_value = peak_lr;
  lr.final_value = final_lr;
  lr.epochs = options.epochs;
  lr.niter_per_ep = options.steps_per_epoch;
  lr.warmup_epochs = options.warmup_epochs;
  lr.warmup_steps = options.warmup_steps;
  absl::StatusOr<CosineSchedule> lr_schedule = CosineSchedule::Create(lr);
  if (!lr_schedule.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("train schedule: lr: ", lr_schedule.status().message()));
  }
  if (lr_schedule->total_iters() > std::numeric_limits<int64_t>::max() / options.global_batch) {
    return absl::InvalidArgumentError("train schedule: too many samples");
  }

  // Python: cosine_scheduler(args.weight_decay, args.weight_decay_end,
  //                          args.epochs, num_training_steps_per_epoch)
  CosineScheduleOptions wd;
  wd.base_value = options.weight_decay;
  wd.final_value = options.weight_decay_end.value_or(options.weight_decay);
  wd.epochs = options.epochs;
  wd.niter_per_ep = options.steps_per_epoch;
  absl::StatusOr<CosineSchedule> wd_schedule = CosineSchedule::Create(wd);
  if (!wd_schedule.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("train schedule: weight decay: ", wd_schedule.status().message()));
  }
  return TrainSchedule(*lr_schedule, *wd_schedule, peak_lr, final_lr, options.global_batch);
}

int64_t TrainSchedule::IterationAtSamples(int64_t samples_seen) const {
  TORCH_CHECK(samples_seen >= 0, "TrainSchedule: negative samples seen ", samples_seen);
  return samples_seen / global_batch_;  // floor for non-negative values
}

double TrainSchedule::LrAtSamples(int64_t samples_seen) const {
  return lr_.At(IterationAtSamples(samples_seen));
}

double TrainSchedule::WdAtSamples(int64_t samples_seen) const {
  return wd_.At(IterationAtSamples(samples_seen));
}

}  // namespace vmae::train
