// Rank 0's checkpoints in its work dir: `checkpoints/step-<N>/` in the
// native format (docs/checkpoint-format.md), complete or absent: written
// under a `.partial` name and renamed, so the agent never uploads half a
// checkpoint. Only the newest few are kept locally; the coordinator holds
// the job's history.
#ifndef VMAE_WORKER_TRAINER_CHECKPOINTS_H_
#define VMAE_WORKER_TRAINER_CHECKPOINTS_H_

#include <string>

#include "absl/status/statusor.h"
#include "worker/checkpoint/native/native_checkpoint.h"
#include "worker/train/optimizer.h"
#include "worker/trainer/model_setup.h"

namespace vmae::trainer {

// Local checkpoints kept; older ones are deleted after a new one is written.
inline constexpr int kLocalCheckpointsKept = 3;

// Writes root/step-<step, 8 digits>/ and returns its absolute path.
absl::StatusOr<std::string> WriteCheckpoint(const std::string& root, const TrainingModel& model,
                                            const train::GroupedAdamW& optimizer,
                                            const checkpoint::NativeManifest& manifest);

// Deletes all but the `keep` highest-numbered step-* directories of root.
void PruneCheckpoints(const std::string& root, int keep);

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_CHECKPOINTS_H_
