// The authors' per-iteration lr and weight-decay schedules (utils.py
// cosine_scheduler), the lr scaling by global batch, and our samples-seen
// form of the schedule (docs/design.md "Data sharding"): the schedule is a
// function of the videos consumed, so a restart with another world size (the
// global batch kept constant by gradient accumulation) does not move it.
#ifndef VMAE_WORKER_TRAIN_LR_SCHEDULE_H_
#define VMAE_WORKER_TRAIN_LR_SCHEDULE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"

namespace vmae::train {

// The arguments of the authors' cosine_scheduler(base_value, final_value,
// epochs, niter_per_ep, warmup_epochs=0, start_warmup_value=0,
// warmup_steps=-1).
struct CosineScheduleOptions {
  double base_value = 0.0;
  double final_value = 0.0;
  int64_t epochs = 0;
  int64_t niter_per_ep = 0;
  int64_t warmup_epochs = 0;
  double start_warmup_value = 0.0;
  /// Overrides warmup_epochs * niter_per_ep when > 0. As in the authors'
  /// code it only takes effect with warmup_epochs > 0 (otherwise their length
  /// assert fails, and Create() fails).
  int64_t warmup_steps = -1;
};

// The authors' cosine_scheduler array, computed one value at a time (no
// array of epochs * niter_per_ep doubles is kept):
//   warmup_iters = warmup_steps > 0 ? warmup_steps : warmup_epochs * niter_per_ep
//   it < warmup_iters: np.linspace(start_warmup_value, base_value,
//       warmup_iters)[it] (endpoint included, so the last warmup value is
//       base_value, and so is the first cosine value)
//   else, with i = it - warmup_iters and n = total - warmup_iters:
//       final + 0.5 * (base - final) * (1 + cos(pi * i / n))
//       (divided by n, not n - 1: the last value stays above final)
// Each value is computed with the same double operations in the same order
// as numpy / Python, so it equals the authors' array element.
// Immutable; thread-safe.
class CosineSchedule {
 public:
  // InvalidArgument for negative sizes, an empty schedule, a warmup longer
  // than the schedule, or warmup_steps > 0 with warmup_epochs == 0 (the
  // cases where the authors' code raises or asserts).
  static absl::StatusOr<CosineSchedule> Create(const CosineScheduleOptions& options);

  // schedule[it] for 0 <= it < total_iters(). Past the end it holds the last
  // value (the authors' array would raise IndexError). `it` must be >= 0.
  double At(int64_t it) const;
  // The whole array (epochs * niter_per_ep values), for tests and logs.
  std::vector<double> Values() const;

  int64_t total_iters() const { return total_iters_; }
  int64_t warmup_iters() const { return warmup_iters_; }

 private:
  CosineSchedule() = default;

  CosineScheduleOptions options_;
  int64_t total_iters_ = 0;
  int64_t warmup_iters_ = 0;
};

// lr * global_batch / 256, evaluated in the authors' order
// ((lr * total_batch_size) / 256). Applies to lr and min_lr alike.
double ScaleLrByBatch(double lr_per_256, int64_t global_batch);

// Videos per optimizer step: per-rank batch x world size x accumulation
// steps (the authors' batch_size * update_freq * world_size). Counts videos,
// not the extra clips of repeated augmentation. InvalidArgument unless all
// are >= 1.
absl::StatusOr<int64_t> GlobalBatch(int64_t per_rank_batch, int64_t world_size,
                                    int64_t accum_steps);

// The job's lr and weight-decay schedules. Numbers per 256 videos, like the
// authors' command line; Create() scales them by the global batch.
struct TrainScheduleOptions {
  /// Peak lr per 256 videos (--lr). Default: 1.5e-4 (pre-training; the
  /// fine-tuning recipe uses 5e-4..1e-3).
  double lr = 1.5e-4;
  /// Final lr per 256 videos (--min_lr). Default: 1e-5 (pre-training;
  /// fine-tuning: 1e-6).
  double min_lr = 1e-5;
  /// Default: 800 (pre-training).
  int64_t epochs = 800;
  /// Linear warmup from 0, in epochs. Default: 40 (pre-training;
  /// fine-tuning: 5). The authors never pass --warmup_lr to the scheduler, so
  /// warmup always starts at 0.
  int64_t warmup_epochs = 40;
  /// Overrides the warmup length in iterations when > 0 (--warmup_steps).
  /// Default: -1.
  int64_t warmup_steps = -1;
  /// Weight decay at the start. Default: 0.05.
  double weight_decay = 0.05;
  /// Weight decay at the end (cosine from weight_decay, no warmup). Default:
  /// unset = weight_decay (constant), as in the authors' scripts.
  std::optional<double> weight_decay_end;
  /// Videos per optimizer step (GlobalBatch()). Must be set.
  int64_t global_batch = 0;
  /// Optimizer steps per epoch (the authors' niter_per_ep; with our single
  /// global cursor and the last partial batch dropped: list length /
  /// global_batch). Must be set.
  int64_t steps_per_epoch = 0;
};

// The lr and weight-decay schedules, indexed by optimizer iteration (the
// authors' `it`) or by samples seen. Immutable; thread-safe.
//
// Samples-seen form: samples_seen counts the videos consumed by completed
// optimizer steps (the data cursor at the start of a step), and
// LrAtSamples(s) = LrAtIteration(floor(s / global_batch)). At step
// boundaries s = it * global_batch, so it is exactly the authors' value for
// iteration it. Between boundaries (a partly consumed global batch) it is
// floor: the lr of the step in progress. The world size appears nowhere: 64
// ranks x 32, 32 x 32 x 2 accumulation or 16 x 32 x 4 all give global batch
// 2048 and the same lr at the same samples seen, across restarts too.
class TrainSchedule {
 public:
  static absl::StatusOr<TrainSchedule> Create(const TrainScheduleOptions& options);

  double LrAtIteration(int64_t it) const { return lr_.At(it); }
  double WdAtIteration(int64_t it) const { return wd_.At(it); }
  // floor(samples_seen / global_batch). samples_seen must be >= 0.
  int64_t IterationAtSamples(int64_t samples_seen) const;
  double LrAtSamples(int64_t samples_seen) const;
  double WdAtSamples(int64_t samples_seen) const;

  // The scaled peak and final lr (options lr / min_lr x global_batch / 256).
  double peak_lr() const { return peak_lr_; }
  double final_lr() const { return final_lr_; }
  int64_t global_batch() const { return global_batch_; }
  int64_t total_iterations() const { return lr_.total_iters(); }
  int64_t warmup_iterations() const { return lr_.warmup_iters(); }
  // Videos consumed by the whole schedule (total_iterations x global_batch).
  int64_t total_samples() const { return total_iterations() * global_batch_; }

 private:
  TrainSchedule(CosineSchedule lr, CosineSchedule wd, double peak_lr, double final_lr,
                int64_t global_batch)
      : lr_(lr), wd_(wd), peak_lr_(peak_lr), final_lr_(final_lr), global_batch_(global_batch) {}

  CosineSchedule lr_;
  CosineSchedule wd_;
  double peak_lr_;
  double final_lr_;
  int64_t global_batch_;
};

}  // namespace vmae::train

#endif  // VMAE_WORKER_TRAIN_LR_SCHEDULE_H_
