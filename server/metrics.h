// Prometheus metrics of the coordinator (names prefixed vmae_, base units,
// _total for counters). Per-job series are removed when the job ends.
// /metrics is served by prometheus-cpp's exposer, which is why this lives in
// the coordinator: it never loads LibTorch (see design.md, "Why the splits").
//
// Thread-safe.
#ifndef VMAE_SERVER_METRICS_H_
#define VMAE_SERVER_METRICS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace vmae::server {

struct RankInfo {
  int rank = 0;
  std::string pod;
  std::string node;
  std::string gpu_uuid;
};

// One optimizer step of a job, as its rank 0 reported it.
struct StepFigures {
  int64_t step = 0;
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  double clips_per_second = 0;
  double data_seconds = 0;       // waiting for data
  double compute_seconds = 0;    // forward + backward not overlapped with comms
  double allreduce_seconds = 0;  // exposed all-reduce
};

class CoordinatorMetrics {
 public:
  CoordinatorMetrics();
  ~CoordinatorMetrics();

  // Serves /metrics on `address` ("0.0.0.0:9464"; port 0 picks one).
  absl::Status Serve(const std::string& address);
  int port() const;

  void SetJobCounts(const std::map<std::string, int>& by_state);
  void SetWorkerCounts(const std::map<std::string, int>& by_state);
  void OnStep(const std::string& job, const StepFigures& step);
  void OnCheckpoint(const std::string& job, double unix_seconds);
  void OnDataErrors(const std::string& job, const std::string& kind, int64_t count);
  void OnRestart(const std::string& job);
  void SetRanks(const std::string& job, const std::vector<RankInfo>& ranks);
  // The job's checkpoint.every_steps, so an alert can tell a stale
  // checkpoint from a long interval (deploy/prometheus/alerts.yaml).
  void SetCheckpointInterval(const std::string& job, int64_t every_steps);
  // Drops every per-job series (the job ended).
  void RemoveJob(const std::string& job);
  void ObserveRpc(const std::string& method, const std::string& code, double seconds);

  prometheus::Registry& registry() { return *registry_; }

 private:
  struct JobSeries;
  JobSeries& SeriesLocked(const std::string& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Gauge>& jobs_;
  prometheus::Family<prometheus::Gauge>& workers_;
  prometheus::Family<prometheus::Gauge>& job_loss_;
  prometheus::Family<prometheus::Gauge>& job_lr_;
  prometheus::Family<prometheus::Gauge>& job_grad_norm_;
  prometheus::Family<prometheus::Gauge>& job_clips_;
  prometheus::Family<prometheus::Gauge>& job_step_;
  prometheus::Family<prometheus::Histogram>& step_seconds_;
  prometheus::Family<prometheus::Counter>& checkpoints_;
  prometheus::Family<prometheus::Gauge>& last_checkpoint_;
  prometheus::Family<prometheus::Gauge>& checkpoint_every_steps_;
  prometheus::Family<prometheus::Counter>& data_errors_;
  prometheus::Family<prometheus::Counter>& restarts_;
  prometheus::Family<prometheus::Gauge>& worker_info_;
  prometheus::Family<prometheus::Counter>& rpc_total_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;

  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<JobSeries>> series_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Gauge*> state_gauges_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, prometheus::Gauge*> worker_gauges_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_METRICS_H_
