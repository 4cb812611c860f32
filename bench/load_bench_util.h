// Helpers for vmae-load-bench: start a vmae-coordinator child process on
// loopback, read CPU and thread figures from /proc, scrape the coordinator's
// /metrics, and summarise latencies.
//
// Not thread-safe unless a function says so; the benchmark calls them from
// its main thread only.
#ifndef VMAE_BENCH_LOAD_BENCH_UTIL_H_
#define VMAE_BENCH_LOAD_BENCH_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace vmae::bench {

// A fresh temporary folder, removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The real coordinator binary as a child process, started with default
// flags except --listen=127.0.0.1:0, --metrics-port=0, a temporary
// --state-dir and --port-file (plus `extra_flags`). The child gets SIGKILL
// if the benchmark dies, so no coordinator is left behind.
class CoordinatorLauncher {
 public:
  CoordinatorLauncher(std::string binary, std::vector<std::string> extra_flags)
      : binary_(std::move(binary)), extra_flags_(std::move(extra_flags)) {}
  ~CoordinatorLauncher();
  CoordinatorLauncher(const CoordinatorLauncher&) = delete;
  CoordinatorLauncher& operator=(const CoordinatorLauncher&) = delete;

  // Starts it and waits (up to 30 s) for the port file. On failure the
  // message carries the coordinator's log.
  absl::Status Start();
  // SIGTERM, then SIGKILL after 5 s; returns the exit status.
  int Stop();

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  // The full command line it was started with.
  const std::vector<std::string>& argv() const { return argv_; }
  std::string Log() const;

 private:
  const std::string binary_;
  const std::vector<std::string> extra_flags_;
  ScratchDir dir_;
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
};

// User+system CPU seconds a process has used so far (/proc/PID/stat); -1 if
// it cannot be read.
double ProcessCpuSeconds(pid_t pid);
// CPU seconds this process has used (getrusage).
double SelfCpuSeconds();
// Threads of a process (/proc/PID/status); -1 if it cannot be read.
int ThreadCount(pid_t pid);

// Aggregate jiffies of every CPU (/proc/stat "cpu" line).
struct SystemCpuTimes {
  uint64_t busy = 0;   // user, nice, system, irq, softirq
  uint64_t steal = 0;  // the hypervisor ran something else
  uint64_t total = 0;
};
SystemCpuTimes ReadSystemCpuTimes();
// Share of all CPUs busy between two readings, in percent of one CPU times
// the CPU count (2 busy cores = 200).
double BusyPercent(const SystemCpuTimes& before, const SystemCpuTimes& after, int cpus);
double StealPercent(const SystemCpuTimes& before, const SystemCpuTimes& after, int cpus);
// The 1, 5 and 15 minute load averages (/proc/loadavg).
std::string LoadAverage();

// "nproc" and the /proc/cpuinfo model name.
int OnlineCpus();
std::string CpuModelName();

// GET http://127.0.0.1:PORT/metrics; "" on failure.
std::string FetchMetrics(int port);

// One method's server-side latency histogram from the coordinator's
// vmae_grpc_request_duration_seconds (handler time, as its interceptor
// measures it: from the call's start on the server to its status).
struct ServerRpcHistogram {
  double count = 0;
  double sum_seconds = 0;
  std::map<double, double> cumulative;  // le (seconds) -> count
};
ServerRpcHistogram ParseRpcHistogram(const std::string& metrics_text, const std::string& method);
// after - before, bucket by bucket.
ServerRpcHistogram Subtract(const ServerRpcHistogram& after, const ServerRpcHistogram& before);
// The coordinator's vmae_jobs{state="QUEUED"} gauge; -1 when absent.
int64_t QueuedJobs(const std::string& metrics_text);
// Upper bucket bound (seconds) under which fraction q of the calls fall;
// +inf if beyond the last bound, 0 if there are no calls.
double BucketQuantile(const ServerRpcHistogram& h, double q);

// Latency figures of a set of calls.
struct LatencySummary {
  int64_t count = 0;
  double mean_ms = 0;
  double p50_ms = 0;
  double p90_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
};
// Sorts `nanos` in place; nearest-rank percentiles.
LatencySummary Summarize(std::vector<int64_t>& nanos);

}  // namespace vmae::bench

#endif  // VMAE_BENCH_LOAD_BENCH_UTIL_H_
