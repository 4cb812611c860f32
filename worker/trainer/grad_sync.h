// The step's GradSync for data parallelism: arms the bucketed reducer
// before the last backward of a step and waits for it after; a failed
// collective is thrown as CollectiveError so the step unwinds at once.
#ifndef VMAE_WORKER_TRAINER_GRAD_SYNC_H_
#define VMAE_WORKER_TRAINER_GRAD_SYNC_H_

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "worker/dist/grad_reducer.h"
#include "worker/train/train_step.h"

namespace vmae::trainer {

class CollectiveError : public std::runtime_error {
 public:
  explicit CollectiveError(absl::Status status)
      : std::runtime_error(std::string(status.message())), status_(std::move(status)) {}
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

class ReducerSync : public train::GradSync {
 public:
  // `reducer` may be null (world size 1). `after_sync` runs once the
  // gradients are final (before the norm and the optimizer step).
  ReducerSync(dist::GradReducer* reducer, std::function<void()> after_sync)
      : reducer_(reducer), after_sync_(std::move(after_sync)) {}

  void BeforeFinalBackward() override {
    if (reducer_ != nullptr) reducer_->Arm();
  }
  void AfterFinalBackward() override {
    if (reducer_ != nullptr) {
      absl::Status status = reducer_->Finish();
      if (!status.ok()) throw CollectiveError(std::move(status));
    }
    if (after_sync_) after_sync_();
  }
  double last_wait_seconds() const {
    return reducer_ != nullptr ? reducer_->last_wait_seconds() : 0.0;
  }

 private:
  dist::GradReducer* reducer_;
  std::function<void()> after_sync_;
};

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_GRAD_SYNC_H_
