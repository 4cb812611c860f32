#include "server/metrics.h"

#include "absl/strings/str_cat.h"

namespace vmae::server {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
const prometheus::Histogram::BucketBoundaries& StepBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *b;
}
const prometheus::Histogram::BucketBoundaries& RpcBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5};
  return *b;
}
}  // namespace

// Every series that carries a job label, so RemoveJob can drop them all.
struct CoordinatorMetrics::JobSeries {
  prometheus::Gauge* loss = nullptr;
  prometheus::Gauge* lr = nullptr;
  prometheus::Gauge* grad_norm = nullptr;
  prometheus::Gauge* clips = nullptr;
  prometheus::Gauge* step = nullptr;
  std::map<std::string, prometheus::Histogram*> phases;
  prometheus::Counter* checkpoints = nullptr;
  prometheus::Gauge* last_checkpoint = nullptr;
  prometheus::Gauge* checkpoint_every_steps = nullptr;
  prometheus::Counter* restarts = nullptr;
  std::map<std::string, prometheus::Counter*> data_errors;
  std::vector<prometheus::Gauge*> rank_info;
};

CoordinatorMetrics::CoordinatorMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      jobs_(BuildGauge().Name("vmae_jobs").Help("Jobs by state.").Register(*registry_)),
      workers_(
          BuildGauge().Name("vmae_workers").Help("Worker slots by state.").Register(*registry_)),
      job_loss_(BuildGauge()
                    .Name("vmae_job_loss")
                    .Help("Last reported training loss.")
                    .Register(*registry_)),
      job_lr_(BuildGauge()
                  .Name("vmae_job_learning_rate")
                  .Help("Learning rate of the last reported step (the base group's).")
                  .Register(*registry_)),
      job_grad_norm_(BuildGauge()
                         .Name("vmae_job_grad_norm")
                         .Help("Global gradient norm of the last reported step, before clipping.")
                         .Register(*registry_)),
      job_clips_(BuildGauge()
                     .Name("vmae_job_clips_per_second")
                     .Help("Training throughput of the whole job, clips per second.")
                     .Register(*registry_)),
      job_step_(BuildGauge()
                    .Name("vmae_job_step")
                    .Help("Last reported optimizer step.")
                    .Register(*registry_)),
      step_seconds_(BuildHistogram()
                        .Name("vmae_job_step_seconds")
                        .Help("Step time by phase (total, data, compute, allreduce).")
                        .Register(*registry_)),
      checkpoints_(BuildCounter()
                       .Name("vmae_checkpoints_total")
                       .Help("Checkpoints committed (verified and visible).")
                       .Register(*registry_)),
      last_checkpoint_(BuildGauge()
                           .Name("vmae_job_last_checkpoint_timestamp_seconds")
                           .Help("Unix time of the job's newest committed checkpoint.")
                           .Register(*registry_)),
      checkpoint_every_steps_(BuildGauge()
                                  .Name("vmae_job_checkpoint_every_steps")
                                  .Help("Steps between the job's periodic checkpoints.")
                                  .Register(*registry_)),
      data_errors_(BuildCounter()
                       .Name("vmae_data_errors_total")
                       .Help("Unreadable samples skipped, by kind.")
                       .Register(*registry_)),
      restarts_(BuildCounter()
                    .Name("vmae_job_restarts_total")
                    .Help("Restarts after infrastructure failures.")
                    .Register(*registry_)),
      worker_info_(
          BuildGauge()
              .Name("vmae_worker_info")
              .Help("1 per running rank; joins vmae figures with DCGM's by pod/node/gpu_uuid.")
              .Register(*registry_)),
      rpc_total_(BuildCounter()
                     .Name("vmae_grpc_requests_total")
                     .Help("gRPC requests handled, by method and status code.")
                     .Register(*registry_)),
      rpc_seconds_(BuildHistogram()
                       .Name("vmae_grpc_request_duration_seconds")
                       .Help("gRPC request latency by method (unary calls).")
                       .Register(*registry_)) {}

CoordinatorMetrics::~CoordinatorMetrics() = default;

absl::Status CoordinatorMetrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
    exposer_->RegisterCollectable(registry_);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat("cannot serve /metrics on ", address, ": ",
                                                      e.what(), "; choose another --metrics-port"));
  }
  return absl::OkStatus();
}

int CoordinatorMetrics::port() const {
  if (!exposer_) return 0;
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports[0];
}

void CoordinatorMetrics::SetJobCounts(const std::map<std::string, int>& by_state) {
  absl::MutexLock lock(&mu_);
  for (const auto& [state, n] : by_state) {
    auto& g = state_gauges_[state];
    if (g == nullptr) g = &jobs_.Add({{"state", state}});
    g->Set(n);
  }
}

void CoordinatorMetrics::SetWorkerCounts(const std::map<std::string, int>& by_state) {
  absl::MutexLock lock(&mu_);
  for (const auto& [state, n] : by_state) {
    auto& g = worker_gauges_[state];
    if (g == nullptr) g = &workers_.Add({{"state", state}});
    g->Set(n);
  }
}

CoordinatorMetrics::JobSeries& CoordinatorMetrics::SeriesLocked(const std::string& job) {
  auto& s = series_[job];
  if (!s) {
    s = std::make_unique<JobSeries>();
    s->loss = &job_loss_.Add({{"job", job}});
    s->lr = &job_lr_.Add({{"job", job}});
    s->grad_norm = &job_grad_norm_.Add({{"job", job}});
    s->clips = &job_clips_.Add({{"job", job}});
    s->step = &job_step_.Add({{"job", job}});
    for (const char* phase : {"total", "data", "compute", "allreduce"}) {
      s->phases[phase] = &step_seconds_.Add({{"job", job}, {"phase", phase}}, StepBuckets());
    }
  }
  return *s;
}

void CoordinatorMetrics::OnStep(const std::string& job, const StepFigures& f) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = SeriesLocked(job);
  s.loss->Set(f.loss);
  s.lr->Set(f.lr);
  s.grad_norm->Set(f.grad_norm);
  s.clips->Set(f.clips_per_second);
  s.step->Set(static_cast<double>(f.step));
  const double total = f.data_seconds + f.compute_seconds + f.allreduce_seconds;
  if (total > 0) s.phases["total"]->Observe(total);
  s.phases["data"]->Observe(f.data_seconds);
  s.phases["compute"]->Observe(f.compute_seconds);
  s.phases["allreduce"]->Observe(f.allreduce_seconds);
}

void CoordinatorMetrics::OnCheckpoint(const std::string& job, double unix_seconds) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = SeriesLocked(job);
  if (s.checkpoints == nullptr) s.checkpoints = &checkpoints_.Add({{"job", job}});
  if (s.last_checkpoint == nullptr) s.last_checkpoint = &last_checkpoint_.Add({{"job", job}});
  s.checkpoints->Increment();
  s.last_checkpoint->Set(unix_seconds);
}

void CoordinatorMetrics::SetCheckpointInterval(const std::string& job, int64_t every_steps) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = SeriesLocked(job);
  if (s.checkpoint_every_steps == nullptr) {
    s.checkpoint_every_steps = &checkpoint_every_steps_.Add({{"job", job}});
  }
  s.checkpoint_every_steps->Set(static_cast<double>(every_steps));
}

void CoordinatorMetrics::OnDataErrors(const std::string& job, const std::string& kind,
                                      int64_t count) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = SeriesLocked(job);
  auto& c = s.data_errors[kind];
  if (c == nullptr) c = &data_errors_.Add({{"job", job}, {"kind", kind}});
  c->Increment(static_cast<double>(count));
}

void CoordinatorMetrics::OnRestart(const std::string& job) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = SeriesLocked(job);
  if (s.restarts == nullptr) s.restarts = &restarts_.Add({{"job", job}});
  s.restarts->Increment();
}

void CoordinatorMetrics::SetRanks(const std::string& job, const std::vector<RankInfo>& ranks) {
  absl::MutexLock lock(&mu_);
  JobSeries& s = SeriesLocked(job);
  for (auto* g : s.rank_info) worker_info_.Remove(g);
  s.rank_info.clear();
  for (const auto& r : ranks) {
    auto& g = worker_info_.Add({{"job", job},
                                {"rank", absl::StrCat(r.rank)},
                                {"pod", r.pod},
                                {"node", r.node},
                                {"gpu_uuid", r.gpu_uuid}});
    g.Set(1);
    s.rank_info.push_back(&g);
  }
}

void CoordinatorMetrics::RemoveJob(const std::string& job) {
  absl::MutexLock lock(&mu_);
  auto it = series_.find(job);
  if (it == series_.end()) return;
  JobSeries& s = *it->second;
  job_loss_.Remove(s.loss);
  job_lr_.Remove(s.lr);
  job_grad_norm_.Remove(s.grad_norm);
  job_clips_.Remove(s.clips);
  job_step_.Remove(s.step);
  for (auto& [phase, h] : s.phases) step_seconds_.Remove(h);
  if (s.checkpoints) checkpoints_.Remove(s.checkpoints);
  if (s.last_checkpoint) last_checkpoint_.Remove(s.last_checkpoint);
  if (s.checkpoint_every_steps) checkpoint_every_steps_.Remove(s.checkpoint_every_steps);
  if (s.restarts) restarts_.Remove(s.restarts);
  for (auto& [kind, c] : s.data_errors) data_errors_.Remove(c);
  for (auto* g : s.rank_info) worker_info_.Remove(g);
  series_.erase(it);
}

void CoordinatorMetrics::ObserveRpc(const std::string& method, const std::string& code,
                                    double seconds) {
  // prometheus-cpp's Family::Add returns the existing series for known
  // labels under its own lock, so no cache is needed here.
  rpc_total_.Add({{"method", method}, {"code", code}}).Increment();
  if (seconds >= 0) rpc_seconds_.Add({{"method", method}}, RpcBuckets()).Observe(seconds);
}

}  // namespace vmae::server
