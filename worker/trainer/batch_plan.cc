#include "worker/trainer/batch_plan.h"

#include "absl/strings/str_cat.h"

namespace vmae::trainer {

absl::StatusOr<BatchPlan> PlanBatches(int64_t batch_size, int64_t workers, int64_t world_size,
                                      int64_t dataset_size) {
  if (batch_size < 1 || workers < 1 || world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.batch_size (", batch_size, "), resources.workers (", workers,
                     ") and the world size (", world_size, ") must all be at least 1"));
  }
  BatchPlan plan;
  plan.global_batch = batch_size * workers;
  if (plan.global_batch % world_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the global batch of ", plan.global_batch, " videos (optimizer.batch_size ", batch_size,
        " x resources.workers ", workers, ") cannot be split evenly over ", world_size,
        " ranks; set resources.min_workers to a divisor of ", plan.global_batch));
  }
  plan.rank_batch = plan.global_batch / world_size;
  // rank_batch = accum x micro with micro <= batch_size: the smallest
  // divisor of rank_batch that is >= rank_batch / batch_size.
  for (int64_t accum = 1; accum <= plan.rank_batch; ++accum) {
    if (plan.rank_batch % accum == 0 && plan.rank_batch / accum <= batch_size) {
      plan.accum_steps = accum;
      plan.micro_batch = plan.rank_batch / accum;
      break;
    }
  }
  if (dataset_size < plan.global_batch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the training list has ", dataset_size, " videos, fewer than one global batch of ",
        plan.global_batch, " (optimizer.batch_size x resources.workers); add videos or lower "
        "optimizer.batch_size"));
  }
  plan.steps_per_epoch = dataset_size / plan.global_batch;
  return plan;
}

}  // namespace vmae::trainer
