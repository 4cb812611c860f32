// Checkpoint files between the agent and the coordinator: the two-phase,
// resumable upload of a trainer's checkpoint directory, and the fetch of a
// stored checkpoint for --resume / --init-from. Thread-compatible: each call
// is independent.
#ifndef VMAE_WORKER_AGENT_CHECKPOINT_TRANSFER_H_
#define VMAE_WORKER_AGENT_CHECKPOINT_TRANSFER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmae/v1/worker_service.grpc.pb.h"
#include "worker/agent/coordinator_link.h"

namespace vmae::worker {

struct UploadRequest {
  std::string job_id;
  int attempt = 0;
  int64_t step = 0;
  int64_t samples_seen = 0;
  double val_top1 = 0;
  std::string dir;  // every regular file in it (not recursive)
};

// Names, sizes and SHA-256 of every regular file in dir, sorted by name.
absl::StatusOr<std::vector<vmae::v1::CheckpointFile>> DescribeCheckpointDir(const std::string& dir);

// Uploads until committed, resuming from what the coordinator holds after
// an interruption and retrying transient failures with backoff while
// keep_going() is true. Returns the committed UploadState; NOT_FOUND when
// the directory disappeared (the trainer deleted it), CANCELLED when
// keep_going() turned false, or the coordinator's refusal.
absl::StatusOr<vmae::v1::UploadState> UploadCheckpointDir(CoordinatorLink* link,
                                                          const UploadRequest& req,
                                                          const std::function<bool()>& keep_going);

// Fetches checkpoint `id` into <root>/<id>/ (files flat) unless that folder
// already exists (it is only ever created complete: the files land in a
// temporary folder, are checked against the announced sizes and SHA-256,
// and the folder is renamed). Returns the folder.
absl::StatusOr<std::string> FetchCheckpointTo(CoordinatorLink* link, const std::string& id,
                                              const std::string& job_id, const std::string& root);

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_CHECKPOINT_TRANSFER_H_
