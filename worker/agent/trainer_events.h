// The trainer's side of docs/trainer-protocol.md: one stdout line -> one
// event (a JSON object with an "event" field) or a log line, and an exit
// status -> what RankExit says. Pure functions; never throw on bad input.
#ifndef VMAE_WORKER_AGENT_TRAINER_EVENTS_H_
#define VMAE_WORKER_AGENT_TRAINER_EVENTS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "vmae/v1/types.pb.h"
#include "vmae/v1/worker_service.pb.h"

namespace vmae::worker {

enum class EventKind {
  kLog,         // not a report: relay the line as a log line
  kStarted,
  kRendezvous,
  kStep,        // report.step filled
  kEval,        // report.step filled (val_* in extra)
  kCheckpoint,
  kDone,
  kStopped,
  kError,
};

struct CheckpointEvent {
  int64_t step = 0;
  int64_t samples_seen = 0;
  std::string dir;
  std::string reason;
  double val_top1 = 0;
};

struct TrainerEvent {
  EventKind kind = EventKind::kLog;
  std::string line;              // the raw line (for logs)
  vmae::v1::StepReport report;   // kStep, kEval: job_id and attempt set
  int port = 0;                  // kRendezvous
  int64_t pid = 0;               // kStarted
  int64_t step = 0;              // kDone, kStopped
  CheckpointEvent checkpoint;    // kCheckpoint
  std::string error_kind;        // kError: "user" | "infra"
  std::string error_message;     // kError
};

// Parses one line of the trainer's stdout (without the newline).
TrainerEvent ParseTrainerLine(absl::string_view line, const std::string& job_id, int attempt);

// What a RankExit says about an exit the agent did not cause.
struct ExitSummary {
  int exit_code = 0;  // -signal when killed by a signal
  vmae::v1::FailureKind kind = vmae::v1::FAILURE_KIND_UNSPECIFIED;
  std::string message;
};

// wait_status: as from waitpid. error_kind/error_message: the trainer's
// last `error` event ("" when none). last_stderr: its last stderr line.
ExitSummary ClassifyExit(int wait_status, const std::string& error_kind,
                         const std::string& error_message, const std::string& last_stderr);

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_TRAINER_EVENTS_H_
