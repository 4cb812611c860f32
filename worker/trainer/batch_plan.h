// How a step's global batch is split over the ranks of an attempt.
//
// The design keeps the global batch (videos per optimizer step) constant
// whatever the world size, so the lr schedule, indexed by samples seen,
// means the same thing after an elastic restart: global = batch_size x
// workers (the spec's full size). With fewer ranks each one accumulates
// gradients over several micro-batches: world x accum_steps x micro_batch
// = global, with micro_batch <= batch_size (the memory budget a rank was
// sized for).
#ifndef VMAE_WORKER_TRAINER_BATCH_PLAN_H_
#define VMAE_WORKER_TRAINER_BATCH_PLAN_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace vmae::trainer {

struct BatchPlan {
  int64_t global_batch = 0;   // videos per optimizer step, all ranks
  int64_t micro_batch = 0;    // videos per rank per forward/backward
  int64_t accum_steps = 1;    // micro-batches per optimizer step
  int64_t rank_batch = 0;     // videos per rank per step = micro x accum
  int64_t steps_per_epoch = 0;
};

// The fewest micro-batches per step that fit batch_size and divide the
// global batch evenly. InvalidArgument (naming the numbers and what to
// change) when the global batch cannot be split over `world_size` ranks or
// the data set is smaller than one global batch.
absl::StatusOr<BatchPlan> PlanBatches(int64_t batch_size, int64_t workers, int64_t world_size,
                                      int64_t dataset_size);

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_BATCH_PLAN_H_
