#include "worker/trainer/events.h"

#include <cmath>
#include <utility>

namespace vmae::trainer {
namespace {

// JSON has no NaN or infinity: a non-finite figure is reported as null.
nlohmann::json Number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

}  // namespace

void EventWriter::Emit(const std::string& name, nlohmann::json fields) {
  fields["event"] = name;
  const std::string line = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard<std::mutex> lock(mu_);
  std::fputs(line.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void EventWriter::Step(const StepEvent& s) {
  nlohmann::json extra = nlohmann::json::object();
  for (const auto& [key, value] : s.extra) {
    extra[key] = Number(value);
  }
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [kind, count] : s.data_errors) {
    errors[kind] = count;
  }
  Emit("step", {{"step", s.step},
                {"total_steps", s.total_steps},
                {"samples_seen", s.samples_seen},
                {"epoch", s.epoch},
                {"loss", Number(s.loss)},
                {"lr", Number(s.lr)},
                {"grad_norm", Number(s.grad_norm)},
                {"clips_per_second", Number(s.clips_per_second)},
                {"data_seconds", Number(s.data_seconds)},
                {"compute_seconds", Number(s.compute_seconds)},
                {"allreduce_seconds", Number(s.allreduce_seconds)},
                {"extra", std::move(extra)},
                {"data_errors", std::move(errors)}});
}

}  // namespace vmae::trainer
