// vmae-load-bench: load benchmark of the coordinator's JobService (issue 2).
//
// Starts the real vmae-coordinator (default flags except
// --listen=127.0.0.1:0 --metrics-port=0 and a temporary --state-dir), or
// uses a running one (--server), and measures on loopback:
//   1. GetJob throughput and latency at each --clients level (closed loop,
//      100 pre-submitted jobs, --seconds per level);
//   2. SubmitJob likewise (each call a new job with a unique idempotency key;
//      the coordinator commits it to SQLite, fsync included, before answering);
//   3. WatchJob fan-out: --watchers callback-API streams on one queued job,
//      then CancelJob, and the delay until each stream reads CANCELLED.
// Alongside the client-side figures it reports, when it started the
// coordinator itself, the coordinator's own handler time (its
// vmae_grpc_request_duration_seconds histogram), the CPU used by the
// coordinator and by the benchmark, and the coordinator's thread count, so a
// missed target can be traced to the server, the client or the machine.
//
// The benchmark and the coordinator share the machine's cores. Not a test:
// it asserts nothing and is not run in CI.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/load_bench_util.h"
#include "common/flag_names.h"
#include "grpcpp/grpcpp.h"
#include "tests/testing/job_yaml.h"  // header only
#include "vmae/v1/job_service.grpc.pb.h"

#ifndef VMAE_DEFAULT_COORDINATOR
#define VMAE_DEFAULT_COORDINATOR "vmae-coordinator"
#endif

ABSL_FLAG(double, seconds, 5, "Measured seconds per GetJob/SubmitJob level.");
ABSL_FLAG(double, warmup_seconds, 0.5, "Unmeasured seconds before each level.");
ABSL_FLAG(std::vector<std::string>, clients, std::vector<std::string>({"1", "16", "64"}),
          "Concurrent clients per level (comma-separated).");
ABSL_FLAG(int, clients_per_channel, 4,
          "Clients sharing one gRPC channel (one HTTP/2 connection); 1 gives each its own.");
ABSL_FLAG(std::string, client_api, "sync",
          "sync: one thread per client, blocking calls. callback: every client is an "
          "outstanding callback-API call re-issued from its completion (no thread per client; "
          "less client CPU).");
ABSL_FLAG(int, jobs, 100, "Jobs submitted before the GetJob levels (GetJob cycles over them).");
ABSL_FLAG(int, watchers, 1000, "WatchJob streams in the fan-out section; 0 skips it.");
ABSL_FLAG(int, watchers_per_channel, 100, "WatchJob streams per gRPC channel.");
ABSL_FLAG(int, watch_idle_ms, 0,
          "Milliseconds the watchers sit idle (after all got their snapshot and backlog) before "
          "CancelJob; long-lived watchers are idle most of the time.");
ABSL_FLAG(bool, client_deadlock_detection, false,
          "Keep Abseil's Mutex deadlock detection on in this benchmark (Debian's Abseil enables "
          "it by default; it makes every gRPC lock dearer and the client shares the CPUs with the "
          "coordinator).");
ABSL_FLAG(std::vector<std::string>, sections, std::vector<std::string>({"get", "submit", "watch"}),
          "Sections to run: get, submit, watch.");
ABSL_FLAG(std::string, coordinator, VMAE_DEFAULT_COORDINATOR,
          "vmae-coordinator binary to start (ignored with --server).");
ABSL_FLAG(std::vector<std::string>, coordinator_flags, {},
          "Extra flags for the started coordinator, comma-separated (e.g. --max-threads=16).");
ABSL_FLAG(std::string, server, "", "Address of a running coordinator to use instead of starting one.");
ABSL_FLAG(std::string, token, "", "Bearer token (needed when the coordinator has --auth-tokens).");
ABSL_FLAG(int, nudge_callback_cq_ms, 0,
          "Diagnostics: during the unary levels, call WatchJob on an unknown job every N ms from a "
          "side thread, so the coordinator's callback-API completion queue never idles for 1 s "
          "(see docs/benchmarks.md, gRPC 1.51 nexting threads); 0 disables.");
ABSL_FLAG(double, slow_ms, 0,
          "Diagnostics: list unary calls slower than this (ms) with their start time in the "
          "measured window; 0 lists none.");

namespace vmae::bench {
namespace {

using Clock = std::chrono::steady_clock;
using vmae::v1::JobService;

int64_t Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

double Ms(Clock::duration d) { return static_cast<double>(Nanos(d)) / 1e6; }

// A small CPU pretraining job the validator accepts (the tests' one). With
// no agents it stays QUEUED.
std::string JobYaml(const std::string& name) {
  vmae::testing::SmallJob job;
  job.name = name;
  job.workers = 2;
  return vmae::testing::SmallJobYaml(job);
}

// Channel `index` of a set: a distinct channel argument plus a local
// subchannel pool, so channels never share one TCP connection.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address, int index) {
  grpc::ChannelArguments args;
  args.SetInt("vmae.bench.channel", index);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(8 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void Authorize(grpc::ClientContext* ctx, const std::string& token, absl::Duration timeout) {
  if (!token.empty()) {
    ctx->AddMetadata("authorization", "Bearer " + token);
  }
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

// Where the benchmark is pointed, plus what it can observe of the server.
struct Target {
  std::string address;
  std::string token;
  pid_t server_pid = -1;  // -1 with --server
  int metrics_port = 0;   // 0 with --server
};

// What the machine and the coordinator did during one measured window.
class ResourceProbe {
 public:
  ResourceProbe(const Target& target, std::string method)
      : target_(target), method_(std::move(method)) {}

  void Begin() {
    t_ = Clock::now();
    sys_ = ReadSystemCpuTimes();
    self_cpu_ = SelfCpuSeconds();
    server_cpu_ = target_.server_pid > 0 ? ProcessCpuSeconds(target_.server_pid) : -1;
    const std::string text = FetchMetrics(target_.metrics_port);
    hist_ = ParseRpcHistogram(text, method_);
    queued_at_begin = QueuedJobs(text);
    SampleThreads();
  }
  void SampleThreads() {
    if (target_.server_pid > 0) {
      max_threads_ = std::max(max_threads_, ThreadCount(target_.server_pid));
    }
  }
  void End() {
    const double wall = std::chrono::duration<double>(Clock::now() - t_).count();
    const int cpus = OnlineCpus();
    const SystemCpuTimes sys_end = ReadSystemCpuTimes();
    busy_pct = BusyPercent(sys_, sys_end, cpus);
    steal_pct = StealPercent(sys_, sys_end, cpus);
    bench_cpu_pct = 100.0 * (SelfCpuSeconds() - self_cpu_) / wall;
    if (target_.server_pid > 0) {
      server_cpu_pct = 100.0 * (ProcessCpuSeconds(target_.server_pid) - server_cpu_) / wall;
    }
    SampleThreads();
    server_threads = max_threads_;
    server_hist = Subtract(ParseRpcHistogram(FetchMetrics(target_.metrics_port), method_), hist_);
  }

  double busy_pct = 0;
  double steal_pct = 0;
  double bench_cpu_pct = 0;
  double server_cpu_pct = -1;
  int server_threads = -1;
  int64_t queued_at_begin = -1;
  ServerRpcHistogram server_hist;

 private:
  const Target& target_;
  const std::string method_;
  Clock::time_point t_;
  SystemCpuTimes sys_;
  double self_cpu_ = 0;
  double server_cpu_ = 0;
  ServerRpcHistogram hist_;
  int max_threads_ = -1;
};

struct LevelResult {
  std::string rpc;
  int clients = 0;
  int channels = 0;
  double seconds = 0;
  int64_t errors = 0;
  std::string first_error;
  LatencySummary latency;
  double calls_per_second = 0;
  double busy_pct = 0;
  double steal_pct = 0;
  double bench_cpu_pct = 0;
  double server_cpu_pct = -1;
  int server_threads = -1;
  int64_t queued = -1;  // QUEUED jobs in the coordinator when the level began
  ServerRpcHistogram server_hist;
};

// One client's record. Written by one thread (or one callback chain) at a time.
struct ClientRecord {
  std::vector<int64_t> nanos;
  std::vector<std::pair<int64_t, int64_t>> slow;  // (start - window begin, latency), ns
  int64_t errors = 0;
  std::string first_error;
};

// Issues one call; `n` counts the client's calls (for unique keys).
using SyncCall = std::function<grpc::Status(JobService::Stub* stub, int client, int64_t n)>;

// Issues one call through the callback API and runs `done` on completion.
using AsyncCall = std::function<void(JobService::Stub* stub, int client, int64_t n,
                                     std::function<void(grpc::Status)> done)>;

// Diagnostics (--nudge-callback-cq-ms): a side thread that opens a WatchJob
// stream on an unknown job every period. The coordinator answers NOT_FOUND
// through its callback API, which puts completions on gRPC's callback
// completion queue, so its "nexting" threads never reach their 1 s idle
// timeout (and the 100 ms sleep that follows it).
class CallbackCqNudger {
 public:
  CallbackCqNudger(const Target& target, int period_ms) {
    if (period_ms <= 0) {
      return;
    }
    thread_ = std::thread([this, &target, period_ms] {
      auto stub = JobService::NewStub(NewChannel(target.address, -2));
      while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(period_ms))) {
        grpc::ClientContext ctx;
        Authorize(&ctx, target.token, absl::Seconds(5));
        vmae::v1::WatchJobRequest req;
        req.set_job_id("j-nudge-unknown");
        auto reader = stub->WatchJob(&ctx, req);
        vmae::v1::JobEvent ev;
        while (reader->Read(&ev)) {
        }
        (void)reader->Finish();
      }
    });
  }
  ~CallbackCqNudger() {
    if (thread_.joinable()) {
      stop_.Notify();
      thread_.join();
    }
  }

 private:
  absl::Notification stop_;
  std::thread thread_;
};

// Runs `clients` closed-loop clients for warmup + seconds; records calls that
// complete inside the measured window.
LevelResult RunLevel(const Target& target, const std::string& rpc, int clients,
                     const SyncCall& sync_call, const AsyncCall& async_call) {
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int per_channel = std::max(1, absl::GetFlag(FLAGS_clients_per_channel));
  const bool callback = absl::GetFlag(FLAGS_client_api) == "callback";
  const int channels = (clients + per_channel - 1) / per_channel;
  std::vector<std::unique_ptr<JobService::Stub>> stubs;
  for (int i = 0; i < channels; ++i) {
    auto channel = NewChannel(target.address, i);
    channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stubs.push_back(JobService::NewStub(channel));
  }
  std::vector<ClientRecord> records(static_cast<size_t>(clients));
  for (auto& r : records) {
    r.nanos.reserve(1 << 14);
  }
  ResourceProbe probe(target, "/vmae.v1.JobService/" + rpc);
  CallbackCqNudger nudger(target, absl::GetFlag(FLAGS_nudge_callback_cq_ms));

  const auto start = Clock::now();
  const absl::Time wall_start = absl::Now();
  const auto begin = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(absl::GetFlag(FLAGS_warmup_seconds)));
  const auto end = begin + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(seconds));
  const int64_t slow_ns = static_cast<int64_t>(absl::GetFlag(FLAGS_slow_ms) * 1e6);
  auto record = [&](ClientRecord& r, Clock::time_point t0, Clock::time_point t1,
                    const grpc::Status& s) {
    if (t1 < begin || t1 > end) {
      return;
    }
    if (!s.ok()) {
      if (r.errors++ == 0) {
        r.first_error = absl::StrCat(s.error_code(), ": ", s.error_message());
      }
      return;
    }
    r.nanos.push_back(Nanos(t1 - t0));
    if (slow_ns > 0 && Nanos(t1 - t0) > slow_ns) {
      r.slow.emplace_back(Nanos(t0 - begin), Nanos(t1 - t0));
    }
  };

  std::vector<std::thread> threads;
  // Callback API: each client is a chain of calls, the next issued from the
  // previous one's completion, so calls of one client never overlap.
  struct Chain {
    std::function<void(int64_t)> next;
  };
  std::vector<Chain> chains(static_cast<size_t>(clients));
  absl::Mutex mu;
  int running = clients;
  if (!callback) {
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        JobService::Stub* stub = stubs[static_cast<size_t>(c / per_channel)].get();
        ClientRecord& r = records[static_cast<size_t>(c)];
        for (int64_t n = 0;; ++n) {
          const auto t0 = Clock::now();
          if (t0 >= end) {
            break;
          }
          grpc::Status s = sync_call(stub, c, n);
          record(r, t0, Clock::now(), s);
        }
      });
    }
  } else {
    for (int c = 0; c < clients; ++c) {
      chains[static_cast<size_t>(c)].next = [&, c](int64_t n) {
        const auto t0 = Clock::now();
        if (t0 >= end) {
          absl::MutexLock lock(&mu);
          --running;
          return;
        }
        async_call(stubs[static_cast<size_t>(c / per_channel)].get(), c, n,
                   [&, c, n, t0](grpc::Status s) {
                     record(records[static_cast<size_t>(c)], t0, Clock::now(), s);
                     chains[static_cast<size_t>(c)].next(n + 1);
                   });
      };
    }
    for (auto& chain : chains) {
      chain.next(0);
    }
  }
  // The main thread only samples: the coordinator's CPU, threads and handler
  // histogram over the measured window.
  std::this_thread::sleep_until(begin);
  probe.Begin();
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    probe.SampleThreads();
  }
  probe.End();
  if (callback) {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &running));
  }
  for (auto& t : threads) {
    t.join();
  }

  LevelResult res;
  res.rpc = rpc;
  res.clients = clients;
  res.channels = channels;
  res.seconds = seconds;
  std::vector<int64_t> all;
  std::vector<std::pair<int64_t, int64_t>> slow;
  for (auto& r : records) {
    slow.insert(slow.end(), r.slow.begin(), r.slow.end());
    all.insert(all.end(), r.nanos.begin(), r.nanos.end());
    if (r.errors > 0 && res.first_error.empty()) {
      res.first_error = r.first_error;
    }
    res.errors += r.errors;
  }
  res.latency = Summarize(all);
  if (!slow.empty()) {
    std::sort(slow.begin(), slow.end());
    std::string list;
    for (const auto& [at, took] : slow) {
      absl::StrAppend(&list, absl::StrFormat(" %.1f:%.1f", at / 1e6, took / 1e6));
    }
    const absl::Time wall_begin = wall_start + absl::FromChrono(begin - start);
    std::fprintf(stderr,
                 "%s %d clients: %zu calls over %.1f ms (start ms after %s UTC = %.3f ms "
                 "CLOCK_MONOTONIC : took ms):%s\n",
                 rpc.c_str(), clients, slow.size(), absl::GetFlag(FLAGS_slow_ms),
                 absl::FormatTime("%H:%M:%E6S", wall_begin, absl::UTCTimeZone()).c_str(),
                 static_cast<double>(Nanos(begin.time_since_epoch())) / 1e6, list.c_str());
  }
  if (slow_ns > 0 && probe.server_hist.count > 0) {
    std::string buckets;
    for (const auto& [le, n] : probe.server_hist.cumulative) {
      absl::StrAppend(&buckets, absl::StrFormat(" <=%gms:%.0f", le * 1e3, n));
    }
    std::fprintf(stderr, "%s %d clients: coordinator handler times (cumulative):%s\n", rpc.c_str(),
                 clients, buckets.c_str());
  }
  res.calls_per_second = static_cast<double>(res.latency.count) / seconds;
  res.busy_pct = probe.busy_pct;
  res.steal_pct = probe.steal_pct;
  res.bench_cpu_pct = probe.bench_cpu_pct;
  res.server_cpu_pct = probe.server_cpu_pct;
  res.server_threads = probe.server_threads;
  res.queued = probe.queued_at_begin;
  res.server_hist = probe.server_hist;
  return res;
}

// ---------------------------------------------------------------------------
// WatchJob fan-out

// Counters shared by every watcher; the benchmark's main thread waits on them.
struct WatchBoard {
  absl::Mutex mu;
  int snapshots ABSL_GUARDED_BY(mu) = 0;   // got the first event (snapshot)
  int backlogged ABSL_GUARDED_BY(mu) = 0;  // also got the stored QUEUED event
  int notified ABSL_GUARDED_BY(mu) = 0;    // read the CANCELLED state change
  int done ABSL_GUARDED_BY(mu) = 0;        // stream finished (OnDone)
  int failed ABSL_GUARDED_BY(mu) = 0;      // finished with a status other than OK
  std::string first_error ABSL_GUARDED_BY(mu);
};

// One WatchJob stream through the callback API: no thread of its own.
class Watcher : public grpc::ClientReadReactor<vmae::v1::JobEvent> {
 public:
  Watcher(WatchBoard* board, const std::string& job_id, const std::string& token)
      : board_(board) {
    req_.set_job_id(job_id);
    Authorize(&ctx_, token, absl::Seconds(120));
  }

  void Start(JobService::Stub* stub) {
    stub->async()->WatchJob(&ctx_, &req_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    const int64_t now_ns = Nanos(Clock::now().time_since_epoch());
    if (!ok) {
      return;  // the stream ended; OnDone follows.
    }
    if (event_.has_snapshot()) {
      absl::MutexLock lock(&board_->mu);
      ++board_->snapshots;
    } else if (event_.has_state()) {
      if (event_.state().to() == vmae::v1::JOB_STATE_QUEUED && !saw_queued_) {
        saw_queued_ = true;
        absl::MutexLock lock(&board_->mu);
        ++board_->backlogged;
      } else if (event_.state().to() == vmae::v1::JOB_STATE_CANCELLED && !cancelled_) {
        cancelled_ = true;
        cancelled_ns_ = now_ns;
        absl::MutexLock lock(&board_->mu);
        ++board_->notified;
      }
    }
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& s) override {
    absl::MutexLock lock(&board_->mu);
    ++board_->done;
    if (!s.ok()) {
      if (board_->failed++ == 0) {
        board_->first_error = absl::StrCat(s.error_code(), ": ", s.error_message());
      }
    }
  }

  void Cancel() { ctx_.TryCancel(); }

  // Read only after the stream is done (OnDone ran).
  bool cancelled() const { return cancelled_; }
  // steady_clock nanoseconds at which it read CANCELLED.
  int64_t cancelled_ns() const { return cancelled_ns_; }

 private:
  WatchBoard* const board_;
  grpc::ClientContext ctx_;
  vmae::v1::WatchJobRequest req_;
  vmae::v1::JobEvent event_;
  bool saw_queued_ = false;
  bool cancelled_ = false;
  int64_t cancelled_ns_ = 0;
};

struct WatchResult {
  int watchers = 0;
  int channels = 0;
  int idle_ms = 0;  // idle time before CancelJob
  double open_seconds = 0;  // StartCall of the first to the last snapshot read
  int snapshots = 0;
  int backlogged = 0;
  int notified = 0;
  int failed = 0;
  std::string first_error;
  double cancel_rpc_ms = 0;
  double server_cancel_ms = -1;  // the coordinator's own CancelJob handler time
  LatencySummary delay;
  int64_t over_200ms = 0;
  double busy_pct = 0;
  double steal_pct = 0;
  double server_cpu_pct = -1;
  double bench_cpu_pct = 0;
};

bool AwaitCount(WatchBoard* board, int WatchBoard::*field, int want, absl::Duration timeout) {
  absl::MutexLock lock(&board->mu);
  struct Arg {
    WatchBoard* board;
    int WatchBoard::*field;
    int want;
  } arg{board, field, want};
  return board->mu.AwaitWithTimeout(
      absl::Condition(
          +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->board->*(a->field) >= a->want; },
          &arg),
      timeout);
}

int Count(WatchBoard* board, int WatchBoard::*field) {
  absl::MutexLock lock(&board->mu);
  return board->*field;
}

WatchResult RunWatch(const Target& target, JobService::Stub* control) {
  WatchResult res;
  res.watchers = absl::GetFlag(FLAGS_watchers);
  const int per_channel = std::max(1, absl::GetFlag(FLAGS_watchers_per_channel));
  res.channels = (res.watchers + per_channel - 1) / per_channel;

  vmae::v1::SubmitJobRequest sreq;
  sreq.set_spec_yaml(JobYaml("bench-watch"));
  sreq.set_idempotency_key(absl::StrCat("bench-watch-", getpid(), "-", absl::ToUnixNanos(absl::Now())));
  vmae::v1::Job job;
  {
    grpc::ClientContext ctx;
    Authorize(&ctx, target.token, absl::Seconds(30));
    grpc::Status s = control->SubmitJob(&ctx, sreq, &job);
    if (!s.ok()) {
      res.first_error = absl::StrCat("SubmitJob: ", s.error_code(), ": ", s.error_message());
      return res;
    }
  }

  std::vector<std::unique_ptr<JobService::Stub>> stubs;
  for (int i = 0; i < res.channels; ++i) {
    auto channel = NewChannel(target.address, 1000 + i);
    channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10));
    stubs.push_back(JobService::NewStub(channel));
  }
  WatchBoard board;
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < res.watchers; ++i) {
    watchers.push_back(std::make_unique<Watcher>(&board, job.id(), target.token));
  }
  const auto open_start = Clock::now();
  for (int i = 0; i < res.watchers; ++i) {
    watchers[static_cast<size_t>(i)]->Start(stubs[static_cast<size_t>(i / per_channel)].get());
  }
  bool all_open = AwaitCount(&board, &WatchBoard::snapshots, res.watchers, absl::Seconds(60));
  res.open_seconds = std::chrono::duration<double>(Clock::now() - open_start).count();
  // Let the coordinator finish sending each stream's stored backlog (the
  // QUEUED event), so only the live event is in flight when we cancel.
  AwaitCount(&board, &WatchBoard::backlogged, res.watchers, absl::Seconds(10));
  res.snapshots = Count(&board, &WatchBoard::snapshots);
  res.backlogged = Count(&board, &WatchBoard::backlogged);
  if (!all_open) {
    std::fprintf(stderr, "only %d of %d watchers got their snapshot within 60 s\n", res.snapshots,
                 res.watchers);
  }
  res.idle_ms = absl::GetFlag(FLAGS_watch_idle_ms);
  if (res.idle_ms > 0) {
    absl::SleepFor(absl::Milliseconds(res.idle_ms));
  }

  ResourceProbe probe(target, "/vmae.v1.JobService/CancelJob");
  probe.Begin();
  vmae::v1::JobRef ref;
  ref.set_job_id(job.id());
  ref.set_reason("vmae-load-bench");
  vmae::v1::Job cancelled;
  grpc::ClientContext cctx;
  Authorize(&cctx, target.token, absl::Seconds(30));
  const auto t0 = Clock::now();
  grpc::Status cs = control->CancelJob(&cctx, ref, &cancelled);
  res.cancel_rpc_ms = Ms(Clock::now() - t0);
  if (!cs.ok()) {
    res.first_error = absl::StrCat("CancelJob: ", cs.error_code(), ": ", cs.error_message());
  }
  AwaitCount(&board, &WatchBoard::notified, res.snapshots, absl::Seconds(10));
  probe.End();
  if (probe.server_hist.count > 0) {
    res.server_cancel_ms = 1e3 * probe.server_hist.sum_seconds / probe.server_hist.count;
  }
  res.busy_pct = probe.busy_pct;
  res.steal_pct = probe.steal_pct;
  res.server_cpu_pct = probe.server_cpu_pct;
  res.bench_cpu_pct = probe.bench_cpu_pct;

  // The job has ended, so the coordinator ends every stream; cancel any
  // that linger, and wait for every OnDone before freeing the reactors.
  if (!AwaitCount(&board, &WatchBoard::done, res.watchers, absl::Seconds(10))) {
    for (auto& w : watchers) {
      w->Cancel();
    }
    AwaitCount(&board, &WatchBoard::done, res.watchers, absl::InfiniteDuration());
  }
  std::vector<int64_t> delays;
  for (const auto& w : watchers) {
    if (w->cancelled()) {
      delays.push_back(w->cancelled_ns() - Nanos(t0.time_since_epoch()));
    }
  }
  res.notified = static_cast<int>(delays.size());
  res.over_200ms = std::count_if(delays.begin(), delays.end(),
                                 [](int64_t n) { return n > 200'000'000; });
  res.delay = Summarize(delays);
  absl::MutexLock lock(&board.mu);
  res.failed = board.failed;
  if (res.first_error.empty()) {
    res.first_error = board.first_error;
  }
  return res;
}

// ---------------------------------------------------------------------------
// Report

std::string Fmt(double v, int prec = 2) {
  if (v < 0) {
    return "-";
  }
  if (std::isinf(v)) {
    return "inf";
  }
  return absl::StrFormat("%.*f", prec, v);
}

// CPU columns: coordinator, benchmark, everything else in the VM, steal.
std::string CpuColumns(double busy, double srv, double bench, double steal) {
  std::string other = srv < 0 ? "-" : Fmt(std::max(0.0, busy - srv - bench), 0);
  return absl::StrFormat("%5s %6.0f %6s %6.0f", Fmt(srv, 0), bench, other, steal);
}

void PrintLevels(const std::vector<LevelResult>& levels) {
  std::printf("%-9s %7s %4s %8s %8s %7s %7s %7s %7s %5s | %8s %8s %6s | %5s %6s %6s %6s %4s\n",
              "rpc", "clients", "chan", "calls", "calls/s", "p50ms", "p90ms", "p99ms", "maxms",
              "errs", "srv_mean", "srv_p99<", "queued", "srv%", "bench%", "other%", "steal%", "thr");
  for (const auto& r : levels) {
    const auto& h = r.server_hist;
    std::string srv_mean = h.count > 0 ? Fmt(1e3 * h.sum_seconds / h.count, 3) : "-";
    std::string srv_p99 = h.count > 0 ? Fmt(1e3 * BucketQuantile(h, 0.99), 2) : "-";
    std::printf("%-9s %7d %4d %8lld %8.0f %7.2f %7.2f %7.2f %7.2f %5lld | %8s %8s %6s | %s %4s\n",
                r.rpc.c_str(), r.clients, r.channels, static_cast<long long>(r.latency.count),
                r.calls_per_second, r.latency.p50_ms, r.latency.p90_ms, r.latency.p99_ms,
                r.latency.max_ms, static_cast<long long>(r.errors), srv_mean.c_str(),
                srv_p99.c_str(), r.queued < 0 ? "-" : absl::StrCat(r.queued).c_str(),
                CpuColumns(r.busy_pct, r.server_cpu_pct, r.bench_cpu_pct, r.steal_pct).c_str(),
                r.server_threads < 0 ? "-" : absl::StrCat(r.server_threads).c_str());
    if (!r.first_error.empty()) {
      std::printf("          first error: %s\n", r.first_error.c_str());
    }
  }
}

void PrintWatch(const WatchResult& w) {
  std::printf(
      "%d watchers on %d channels: %d got the snapshot within %.2f s, %d the stored backlog; "
      "stream errors %d\n",
      w.watchers, w.channels, w.snapshots, w.open_seconds, w.backlogged, w.failed);
  std::printf("idle %d ms, then CancelJob: round trip %.2f ms (coordinator handler %s ms, SQLite "
              "commit included)\n",
              w.idle_ms, w.cancel_rpc_ms, Fmt(w.server_cancel_ms, 2).c_str());
  std::printf("%-9s %9s %7s %7s %7s %7s %7s | %5s %6s %6s %6s\n", "rpc", "notified", "p50ms",
              "p90ms", "p99ms", "maxms", ">200ms", "srv%", "bench%", "other%", "steal%");
  std::printf("%-9s %4d/%-4d %7.2f %7.2f %7.2f %7.2f %7lld | %s\n", "WatchJob", w.notified,
              w.watchers, w.delay.p50_ms, w.delay.p90_ms, w.delay.p99_ms, w.delay.max_ms,
              static_cast<long long>(w.over_200ms),
              CpuColumns(w.busy_pct, w.server_cpu_pct, w.bench_cpu_pct, w.steal_pct).c_str());
  if (!w.first_error.empty()) {
    std::printf("          first error: %s\n", w.first_error.c_str());
  }
}

int Run(const std::string& command) {
  std::vector<int> levels;
  for (const auto& c : absl::GetFlag(FLAGS_clients)) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n <= 0) {
      std::fprintf(stderr, "--clients: '%s' is not a positive number\n", c.c_str());
      return 2;
    }
    levels.push_back(n);
  }
  const std::string api = absl::GetFlag(FLAGS_client_api);
  if (api != "sync" && api != "callback") {
    std::fprintf(stderr, "--client-api must be sync or callback, not '%s'\n", api.c_str());
    return 2;
  }
  auto sections = absl::GetFlag(FLAGS_sections);
  auto wants = [&](const std::string& s) {
    return std::find(sections.begin(), sections.end(), s) != sections.end();
  };

  Target target;
  target.token = absl::GetFlag(FLAGS_token);
  std::unique_ptr<CoordinatorLauncher> launcher;
  std::string server_desc;
  if (!absl::GetFlag(FLAGS_server).empty()) {
    target.address = absl::GetFlag(FLAGS_server);
    server_desc = absl::StrCat("running coordinator at ", target.address,
                               " (no server-side CPU, threads or handler times)");
  } else {
    launcher = std::make_unique<CoordinatorLauncher>(absl::GetFlag(FLAGS_coordinator),
                                                     absl::GetFlag(FLAGS_coordinator_flags));
    absl::Status s = launcher->Start();
    if (!s.ok()) {
      std::fprintf(stderr, "cannot start the coordinator: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    target.address = launcher->address();
    target.server_pid = launcher->pid();
    target.metrics_port = launcher->metrics_port();
    server_desc = absl::StrCat("started: ", absl::StrJoin(launcher->argv(), " "), " (pid ",
                               launcher->pid(), ")");
  }

  std::printf("vmae-load-bench: coordinator JobService load on loopback\n");
  std::printf("command:     %s\n", command.c_str());
  std::printf("machine:     %d CPUs (nproc), model name: %s; benchmark and coordinator share them; "
              "load average at start %s\n",
              OnlineCpus(), CpuModelName().c_str(), LoadAverage().c_str());
  std::printf("coordinator: %s\n", server_desc.c_str());
  std::printf("client:      %s API, %d clients per channel, %.1f s measured per level after %.1f s "
              "warm-up, %d pre-submitted jobs\n\n",
              api.c_str(), absl::GetFlag(FLAGS_clients_per_channel), absl::GetFlag(FLAGS_seconds),
              absl::GetFlag(FLAGS_warmup_seconds), absl::GetFlag(FLAGS_jobs));
  std::fflush(stdout);

  auto control_channel = NewChannel(target.address, -1);
  if (!control_channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::fprintf(stderr, "cannot connect to %s\n", target.address.c_str());
    return 1;
  }
  auto control = JobService::NewStub(control_channel);

  // The jobs GetJob reads.
  std::vector<std::string> job_ids;
  const std::string run_tag = absl::StrCat(getpid(), "-", absl::ToUnixMillis(absl::Now()));
  for (int i = 0; i < absl::GetFlag(FLAGS_jobs) && wants("get"); ++i) {
    vmae::v1::SubmitJobRequest req;
    req.set_spec_yaml(JobYaml(absl::StrCat("bench-get-", i)));
    req.set_idempotency_key(absl::StrCat("bench-get-", run_tag, "-", i));
    vmae::v1::Job job;
    grpc::ClientContext ctx;
    Authorize(&ctx, target.token, absl::Seconds(30));
    grpc::Status s = control->SubmitJob(&ctx, req, &job);
    if (!s.ok()) {
      std::fprintf(stderr, "pre-submitting job %d: %d: %s\n", i, s.error_code(),
                   s.error_message().c_str());
      return 1;
    }
    job_ids.push_back(job.id());
  }

  const absl::Duration rpc_timeout = absl::Seconds(30);
  SyncCall get_sync = [&](JobService::Stub* stub, int client, int64_t n) {
    vmae::v1::GetJobRequest req;
    req.set_job_id(job_ids[static_cast<size_t>(client + n) % job_ids.size()]);
    vmae::v1::GetJobResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, target.token, rpc_timeout);
    return stub->GetJob(&ctx, req, &resp);
  };
  AsyncCall get_async = [&](JobService::Stub* stub, int client, int64_t n,
                            std::function<void(grpc::Status)> done) {
    struct Call {
      grpc::ClientContext ctx;
      vmae::v1::GetJobRequest req;
      vmae::v1::GetJobResponse resp;
    };
    auto* call = new Call;
    call->req.set_job_id(job_ids[static_cast<size_t>(client + n) % job_ids.size()]);
    Authorize(&call->ctx, target.token, rpc_timeout);
    stub->async()->GetJob(&call->ctx, &call->req, &call->resp,
                          [call, done = std::move(done)](grpc::Status s) {
                            delete call;
                            done(std::move(s));
                          });
  };
  auto submit_request = [&](int client, int64_t n) {
    vmae::v1::SubmitJobRequest req;
    req.set_spec_yaml(JobYaml(absl::StrCat("bench-submit-", client, "-", n)));
    req.set_idempotency_key(absl::StrCat("bench-submit-", run_tag, "-", client, "-", n));
    return req;
  };
  // Keys must stay unique across levels: offset each level's client numbers.
  int submit_base = 0;
  SyncCall submit_sync = [&](JobService::Stub* stub, int client, int64_t n) {
    vmae::v1::SubmitJobRequest req = submit_request(submit_base + client, n);
    vmae::v1::Job resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, target.token, rpc_timeout);
    return stub->SubmitJob(&ctx, req, &resp);
  };
  AsyncCall submit_async = [&](JobService::Stub* stub, int client, int64_t n,
                               std::function<void(grpc::Status)> done) {
    struct Call {
      grpc::ClientContext ctx;
      vmae::v1::SubmitJobRequest req;
      vmae::v1::Job resp;
    };
    auto* call = new Call;
    call->req = submit_request(submit_base + client, n);
    Authorize(&call->ctx, target.token, rpc_timeout);
    stub->async()->SubmitJob(&call->ctx, &call->req, &call->resp,
                             [call, done = std::move(done)](grpc::Status s) {
                               delete call;
                               done(std::move(s));
                             });
  };

  // GetJob first, then the fan-out (both against ~100 jobs), then SubmitJob,
  // which leaves thousands of queued jobs behind.
  std::vector<LevelResult> results;
  if (wants("get")) {
    for (int c : levels) {
      results.push_back(RunLevel(target, "GetJob", c, get_sync, get_async));
      std::fprintf(stderr, "GetJob %d clients: %.0f calls/s\n", c, results.back().calls_per_second);
    }
  }
  WatchResult watch;
  const bool do_watch = wants("watch") && absl::GetFlag(FLAGS_watchers) > 0;
  if (do_watch) {
    watch = RunWatch(target, control.get());
    std::fprintf(stderr, "WatchJob: %d/%d notified\n", watch.notified, watch.watchers);
  }
  if (wants("submit")) {
    for (int c : levels) {
      results.push_back(RunLevel(target, "SubmitJob", c, submit_sync, submit_async));
      submit_base += c;
      std::fprintf(stderr, "SubmitJob %d clients: %.0f calls/s\n", c, results.back().calls_per_second);
    }
  }

  std::printf("Unary calls (closed loop; latency = client-side round trip)\n");
  PrintLevels(results);
  std::printf(
      "  chan: gRPC channels (connections). srv_mean, srv_p99<: the coordinator's own handler time\n"
      "  in ms (its vmae_grpc_request_duration_seconds; p99 as a histogram bucket bound).\n"
      "  queued: QUEUED jobs in the coordinator as the level began (its vmae_jobs gauge, updated\n"
      "  every 0.5 s); SubmitJob levels run one after another, so each one starts with more.\n"
      "  srv%%, bench%%, other%%: CPU used by the coordinator, by this benchmark and by anything else\n"
      "  in the machine (%d00 = every CPU busy); steal%%: CPU the hypervisor withheld.\n"
      "  thr: most coordinator threads seen.\n\n",
      OnlineCpus());
  if (do_watch) {
    std::printf("Watch fan-out (delay: just before CancelJob -> the stream reads CANCELLED)\n");
    PrintWatch(watch);
  }
  // The targets (2 cores): GetJob at 16 clients >= 5,000 calls/s with
  // p99 < 5 ms; every one of 1,000 watchers notified within 200 ms.
  std::printf("\nTargets\n");
  for (const auto& r : results) {
    if (r.rpc == "GetJob" && r.clients == 16) {
      const bool met = r.calls_per_second >= 5000 && r.latency.p99_ms < 5 && r.errors == 0;
      std::printf("  GetJob, 16 clients: %.0f calls/s (>= 5000), p99 %.2f ms (< 5): %s\n",
                  r.calls_per_second, r.latency.p99_ms, met ? "met" : "MISSED");
    }
  }
  if (do_watch) {
    const bool met = watch.watchers == 1000 && watch.notified == 1000 && watch.over_200ms == 0;
    std::printf("  WatchJob fan-out: %d of %d watchers notified, %lld after 200 ms (all 1000 within "
                "200 ms): %s\n",
                watch.notified, watch.watchers, static_cast<long long>(watch.over_200ms),
                met ? "met" : "MISSED");
  }
  std::fflush(stdout);
  if (launcher) {
    launcher->Stop();
  }
  return 0;
}

}  // namespace
}  // namespace vmae::bench

int main(int argc, char** argv) {
  std::vector<std::string> words(argv, argv + argc);
  const std::string command = absl::StrJoin(words, " ");
  absl::SetProgramUsageMessage(
      "Load benchmark of the coordinator's JobService (GetJob, SubmitJob, WatchJob fan-out).\n"
      "  vmae-load-bench [--seconds 5] [--clients 1,16,64] [--watchers 1000]\n"
      "                  [--coordinator PATH | --server ADDR] [--token T]");
  vmae::DashesToUnderscoresInFlagNames(argc, argv);
  absl::ParseCommandLine(argc, argv);
  if (!absl::GetFlag(FLAGS_client_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return vmae::bench::Run(command);
}
