// The trainer's reports to its agent: one JSON object per line on stdout
// (docs/trainer-protocol.md). Log lines go to stderr, so stdout carries
// nothing but events.
#ifndef VMAE_WORKER_TRAINER_EVENTS_H_
#define VMAE_WORKER_TRAINER_EVENTS_H_

#include <cstdio>
#include <map>
#include <mutex>
#include <string>

#include "nlohmann/json.hpp"

namespace vmae::trainer {

// What a step event carries (rank 0, figures for the whole group).
struct StepEvent {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t samples_seen = 0;
  int64_t epoch = 0;
  double loss = 0.0;
  double lr = 0.0;
  double grad_norm = 0.0;
  double clips_per_second = 0.0;
  double data_seconds = 0.0;
  double compute_seconds = 0.0;
  double allreduce_seconds = 0.0;
  std::map<std::string, double> extra;
  std::map<std::string, int64_t> data_errors;
};

class EventWriter {
 public:
  // Writes to `out` (stdout by default); not owned.
  explicit EventWriter(std::FILE* out = stdout) : out_(out) {}

  // One event: `fields` plus "event": name. Thread-safe; flushed at once so
  // the agent sees it while training goes on.
  void Emit(const std::string& name, nlohmann::json fields = nlohmann::json::object());
  void Step(const StepEvent& step);

 private:
  std::FILE* out_;
  std::mutex mu_;
};

}  // namespace vmae::trainer

#endif  // VMAE_WORKER_TRAINER_EVENTS_H_
