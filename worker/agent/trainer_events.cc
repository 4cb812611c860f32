#include "worker/agent/trainer_events.h"

#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace vmae::worker {

namespace {

using nlohmann::json;

double Num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<double>();
}

int64_t Int(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  if (it->is_number_float()) return static_cast<int64_t>(it->get<double>());
  return it->get<int64_t>();
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

TrainerEvent ParseTrainerLine(absl::string_view line, const std::string& job_id, int attempt) {
  TrainerEvent ev;
  ev.line = std::string(line);
  // Cheap test first: most non-report lines are not JSON objects at all.
  size_t first = line.find_first_not_of(" \t\r");
  if (first == absl::string_view::npos || line[first] != '{') return ev;
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return ev;
  const std::string event = Str(j, "event");
  if (event == "started") {
    ev.kind = EventKind::kStarted;
    ev.pid = Int(j, "pid");
  } else if (event == "rendezvous") {
    int64_t port = Int(j, "port");
    if (port <= 0 || port > 65535) return ev;  // not a usable report: keep it as a log line
    ev.kind = EventKind::kRendezvous;
    ev.port = static_cast<int>(port);
  } else if (event == "step" || event == "eval") {
    vmae::v1::StepReport& r = ev.report;
    r.set_job_id(job_id);
    r.set_attempt(attempt);
    r.set_step(Int(j, "step"));
    r.set_epoch(static_cast<int32_t>(Int(j, "epoch")));
    if (event == "step") {
      ev.kind = EventKind::kStep;
      r.set_total_steps(Int(j, "total_steps"));
      r.set_samples_seen(Int(j, "samples_seen"));
      r.set_loss(Num(j, "loss"));
      r.set_lr(Num(j, "lr"));
      r.set_grad_norm(Num(j, "grad_norm"));
      r.set_clips_per_second(Num(j, "clips_per_second"));
      r.set_data_seconds(Num(j, "data_seconds"));
      r.set_compute_seconds(Num(j, "compute_seconds"));
      r.set_allreduce_seconds(Num(j, "allreduce_seconds"));
      auto extra = j.find("extra");
      if (extra != j.end() && extra->is_object()) {
        for (const auto& [k, v] : extra->items()) {
          if (v.is_number()) (*r.mutable_extra())[k] = v.get<double>();
        }
      }
      auto errors = j.find("data_errors");
      if (errors != j.end() && errors->is_object()) {
        for (const auto& [k, v] : errors->items()) {
          if (v.is_number()) (*r.mutable_data_errors())[k] = static_cast<int64_t>(v.get<double>());
        }
      }
    } else {
      ev.kind = EventKind::kEval;
      // Only the evaluation figures: the coordinator records each extra as
      // its own series at this step.
      for (const char* k : {"val_top1", "val_top5", "val_loss"}) {
        if (j.contains(k) && j[k].is_number()) (*r.mutable_extra())[k] = j[k].get<double>();
      }
    }
  } else if (event == "checkpoint") {
    ev.kind = EventKind::kCheckpoint;
    ev.checkpoint.step = Int(j, "step");
    ev.checkpoint.samples_seen = Int(j, "samples_seen");
    ev.checkpoint.dir = Str(j, "dir");
    ev.checkpoint.reason = Str(j, "reason");
    ev.checkpoint.val_top1 = Num(j, "val_top1");
  } else if (event == "done") {
    ev.kind = EventKind::kDone;
    ev.step = Int(j, "step");
  } else if (event == "stopped") {
    ev.kind = EventKind::kStopped;
    ev.step = Int(j, "step");
  } else if (event == "error") {
    ev.kind = EventKind::kError;
    ev.error_kind = Str(j, "kind");
    ev.error_message = Str(j, "message");
  }
  return ev;
}

ExitSummary ClassifyExit(int wait_status, const std::string& error_kind,
                         const std::string& error_message, const std::string& last_stderr) {
  ExitSummary s;
  if (WIFEXITED(wait_status)) {
    s.exit_code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    s.exit_code = -WTERMSIG(wait_status);
  } else {
    s.exit_code = -1;
  }
  if (s.exit_code != 0) {
    if (error_kind == "user") {
      s.kind = vmae::v1::FAILURE_KIND_USER;
    } else if (error_kind == "infra") {
      s.kind = vmae::v1::FAILURE_KIND_INFRASTRUCTURE;
    } else if (s.exit_code == 2) {
      s.kind = vmae::v1::FAILURE_KIND_USER;
    } else {
      s.kind = vmae::v1::FAILURE_KIND_INFRASTRUCTURE;
    }
  }
  s.message = !error_message.empty() ? error_message : last_stderr;
  return s;
}

}  // namespace vmae::worker
