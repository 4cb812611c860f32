// `vmae train`: one rank of one attempt of a job (docs/trainer-protocol.md).
//
// The loop: join the process group (rank 0 hosts the store), broadcast rank
// 0's weights, then per optimizer step: take the rank's slice of the global
// batch from the loader, vote with the other ranks (a data error or a stop
// request anywhere stops everyone at the same step), run the micro-batches
// with gradients averaged in buckets overlapped with the last backward,
// check the loss is finite everywhere, report, checkpoint every
// `checkpoint.every_steps`; evaluate every `eval.every_epochs`; at the end a
// final checkpoint and, for fine-tuning with a validation list, the
// multi-view test.
#ifndef VMAE_WORKER_TRAINER_TRAINER_H_
#define VMAE_WORKER_TRAINER_TRAINER_H_

#include <string>

#include "absl/status/status.h"
#include "vmae/v1/job_spec.pb.h"
#include "worker/trainer/events.h"

namespace vmae::trainer {

struct TrainerOptions {
  v1::JobSpec spec;  // resolved
  std::string job_id;
  int attempt = 1;
  int rank = 0;
  int world_size = 1;
  std::string work_dir;
  std::string store_host = "0.0.0.0";  // rank 0 listens here; others connect
  int store_port = 0;
  std::string data_root;      // relative data.root resolves against it
  std::string resume_dir;     // continue from this checkpoint
  std::string init_from_dir;  // fine-tuning: initial weights
  std::string device = "cpu";
  int threads = 1;
  double collective_timeout_s = 300;
  // For tests and debugging: append "attempt epoch step sample" for every
  // video of every completed step to this file.
  std::string sample_log;
  // For tests: write the averaged gradient of the first optimizer step,
  // flattened in parameter order, to this .pt file.
  std::string grad_dump;
  // For tests: every rank emits {"event":"checksum"} with the SHA-256 of
  // its parameters after every step.
  bool report_checksums = false;
  // For benchmarks: false starts every gradient bucket after the backward
  // instead of during it.
  bool overlap = true;
};

// Why a run failed, for the exit code and the agent's RankExit.
enum class FailureKind { kUser, kInfrastructure };
FailureKind ClassifyFailure(const absl::Status& status);

// Trains until done (OK), stopped by SIGTERM after its checkpoint (OK), or
// a failure. Emits the protocol's events through `events`.
absl::Status RunTrainer(const TrainerOptions& options, EventWriter& events);

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_TRAINER_H_
