// vmae-coordinator: wiring only. Flags -> Coordinator, gRPC server
// (JobService, WorkerService, health, reflection), /metrics, signals.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/flag_names.h"
#include "common/logging.h"
#include "common/shutdown_signals.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "server/auth.h"
#include "server/callback_queue_keeper.h"
#include "server/coordinator.h"
#include "server/job_service.h"
#include "server/local_worker.h"
#include "server/metrics.h"
#include "server/rpc_metrics.h"
#include "server/worker_service.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7070",
          "gRPC address (host:port; port 0 picks a free one). Beyond loopback it needs TLS and tokens.");
ABSL_FLAG(std::string, state_dir, "./vmae-state",
          "Folder for the SQLite state and the checkpoint store (block storage, not NFS).");
ABSL_FLAG(int, metrics_port, 9464, "Port of the Prometheus /metrics endpoint; 0 picks one, -1 disables.");
ABSL_FLAG(std::string, metrics_host, "",
          "Host /metrics binds to; default: the --listen host (0.0.0.0 to expose it).");
ABSL_FLAG(std::string, auth_tokens, "", "File of 'token user role' lines (role: admin or user).");
ABSL_FLAG(std::string, worker_join_token, "", "Token agents present to join (or use --worker-join-token-file).");
ABSL_FLAG(std::string, worker_join_token_file, "", "File holding the agents' join token.");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain for TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key for TLS.");
ABSL_FLAG(std::vector<std::string>, data_root, {},
          "Data roots job paths must lie under (comma-separated or repeated).");
ABSL_FLAG(int, heartbeat_ms, 2000, "Agent heartbeat period.");
ABSL_FLAG(int, lease_ms, 15000, "An agent silent this long is lost.");
ABSL_FLAG(int, progress_deadline_s, 120, "Floor of the no-progress deadline.");
ABSL_FLAG(int, first_step_deadline_s, 600, "Deadline for an attempt's first step.");
ABSL_FLAG(int, pause_grace_s, 120, "Time a pausing job gets to checkpoint.");
ABSL_FLAG(int, max_threads, 256, "Threads for synchronous RPCs (watch streams need none).");
ABSL_FLAG(int, local_workers, 0,
          "Also run a local vmae-worker (next to this binary) offering this many CPU slots; 0: none.");
ABSL_FLAG(std::string, local_worker_args, "",
          "More flags for the local vmae-worker, space-separated (e.g. \"--trainer /opt/vmae\").");
ABSL_FLAG(std::string, port_file, "",
          "Write 'grpc=PORT' and 'metrics=PORT' here once serving (for scripts and tests).");

namespace vmae::server {
namespace {

constexpr int kMaxMessageBytes = 8 << 20;  // 1 MiB chunks plus headroom

bool IsLoopback(const std::string& listen) {
  std::string host = listen;
  size_t colon = listen.rfind(':');
  if (colon != std::string::npos) host = listen.substr(0, colon);
  host = std::string(absl::StripPrefix(absl::StripSuffix(host, "]"), "["));
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

std::string HostOf(const std::string& listen) {
  size_t colon = listen.rfind(':');
  return colon == std::string::npos ? listen : listen.substr(0, colon);
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Fail(const absl::Status& s) {
  LogError(s.message());
  return 1;
}

int Run() {
  const std::string listen = absl::GetFlag(FLAGS_listen);
  std::string join_token = absl::GetFlag(FLAGS_worker_join_token);
  if (!absl::GetFlag(FLAGS_worker_join_token_file).empty()) {
    auto t = ReadFile(absl::GetFlag(FLAGS_worker_join_token_file), "--worker-join-token-file");
    if (!t.ok()) return Fail(t.status());
    join_token = std::string(absl::StripAsciiWhitespace(*t));
  }
  const int local_workers = absl::GetFlag(FLAGS_local_workers);
  if (local_workers > 0 && join_token.empty()) {
    // The local agent still authenticates: a random token, shared through a
    // 0600 file, keeps other local users' processes from joining as agents.
    auto t = GenerateJoinToken();
    if (!t.ok()) return Fail(t.status());
    join_token = *t;
  }
  const bool tls = !absl::GetFlag(FLAGS_tls_cert).empty() || !absl::GetFlag(FLAGS_tls_key).empty();
  if (tls && (absl::GetFlag(FLAGS_tls_cert).empty() || absl::GetFlag(FLAGS_tls_key).empty())) {
    return Fail(absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key"));
  }
  if (!IsLoopback(listen) &&
      (!tls || absl::GetFlag(FLAGS_auth_tokens).empty() || join_token.empty())) {
    return Fail(absl::FailedPreconditionError(absl::StrCat(
        "refusing to listen on ", listen,
        " without TLS and tokens: pass --tls-cert, --tls-key, --auth-tokens and "
        "--worker-join-token, or listen on 127.0.0.1")));
  }
  auto auth = Authenticator::Load(absl::GetFlag(FLAGS_auth_tokens), join_token);
  if (!auth.ok()) return Fail(auth.status());

  CoordinatorMetrics metrics;
  CoordinatorOptions opts;
  opts.state_dir = absl::GetFlag(FLAGS_state_dir);
  for (const auto& r : absl::GetFlag(FLAGS_data_root)) {
    if (!r.empty()) opts.data_roots.push_back(r);
  }
  opts.heartbeat_ms = absl::GetFlag(FLAGS_heartbeat_ms);
  opts.lease_ms = absl::GetFlag(FLAGS_lease_ms);
  opts.progress_deadline_ms = int64_t{1000} * absl::GetFlag(FLAGS_progress_deadline_s);
  opts.first_step_deadline_ms = int64_t{1000} * absl::GetFlag(FLAGS_first_step_deadline_s);
  opts.pause_grace_ms = int64_t{1000} * absl::GetFlag(FLAGS_pause_grace_s);
  if (opts.heartbeat_ms <= 0 || opts.lease_ms <= opts.heartbeat_ms) {
    return Fail(absl::InvalidArgumentError("--lease-ms must be larger than --heartbeat-ms > 0"));
  }
  auto coordinator = Coordinator::Create(opts, &metrics);
  if (!coordinator.ok()) return Fail(coordinator.status());

  JobServiceImpl job_service(coordinator->get(), auth->get());
  WorkerServiceImpl worker_service(coordinator->get(), auth->get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (tls) {
    auto cert = ReadFile(absl::GetFlag(FLAGS_tls_cert), "--tls-cert");
    if (!cert.ok()) return Fail(cert.status());
    auto key = ReadFile(absl::GetFlag(FLAGS_tls_key), "--tls-key");
    if (!key.ok()) return Fail(key.status());
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    creds = grpc::SslServerCredentials(ssl);
  }
  int grpc_port = 0;
  builder.AddListeningPort(listen, creds, &grpc_port);
  builder.RegisterService(&job_service);
  builder.RegisterService(&worker_service);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  grpc::ResourceQuota quota("vmae-coordinator");
  quota.SetMaxThreads(absl::GetFlag(FLAGS_max_threads));
  builder.SetResourceQuota(quota);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeRpcMetricsInterceptor(&metrics));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || grpc_port == 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen, "; is the port in use? choose another with --listen")));
  }
  auto keeper = std::make_unique<CallbackQueueKeeper>(server.get());
  int metrics_port = -1;
  if (absl::GetFlag(FLAGS_metrics_port) >= 0) {
    std::string host = absl::GetFlag(FLAGS_metrics_host);
    if (host.empty()) host = HostOf(listen);
    absl::Status s = metrics.Serve(absl::StrCat(host, ":", absl::GetFlag(FLAGS_metrics_port)));
    if (!s.ok()) return Fail(s);
    metrics_port = metrics.port();
  }
  LogInfo(absl::StrCat("vmae-coordinator serving gRPC on ", HostOf(listen), ":", grpc_port,
                       ", /metrics on port ", metrics_port, ", state in ", opts.state_dir,
                       tls ? " (TLS)" : "",
                       (*auth)->HasUserTokens() ? "" : " (no --auth-tokens: every client is admin)"));
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::string path = absl::GetFlag(FLAGS_port_file);
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp);
      out << "grpc=" << grpc_port << "\nmetrics=" << metrics_port << "\n";
    }
    std::rename(tmp.c_str(), path.c_str());
  }

  std::unique_ptr<LocalWorker> local_worker;
  if (local_workers > 0) {
    std::string host = HostOf(listen);
    if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") host = "127.0.0.1";
    LocalWorkerOptions lw;
    lw.slots = local_workers;
    lw.coordinator = absl::StrCat(host, ":", grpc_port);
    lw.join_token = join_token;
    lw.state_dir = opts.state_dir;
    lw.extra_args = absl::GetFlag(FLAGS_local_worker_args);
    auto started = LocalWorker::Start(lw);
    if (!started.ok()) return Fail(started.status());
    local_worker = std::move(*started);
  }

  // Wait for SIGTERM or SIGINT (blocked in every thread, taken here).
  const int sig = WaitForShutdownSignal();
  LogInfo(absl::StrCat("signal ", sig, ": shutting down (running jobs keep running; agents reconnect)"));
  local_worker.reset();  // its trainers die with it
  keeper.reset();
  (*coordinator)->hub()->CloseAll();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  (*coordinator)->Shutdown();
  LogInfo("stopped");
  return 0;
}

}  // namespace
}  // namespace vmae::server

int main(int argc, char** argv) {
  vmae::BlockShutdownSignals();
  // Debian builds Abseil with Mutex deadlock detection on; gRPC's mutexes are
  // absl::Mutex, so it taxes every call (~10% of the CPU of a GetJob).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(
      "vmae-coordinator: the vmae control plane (job API, scheduling, checkpoints, /metrics).\n"
      "  vmae-coordinator --state-dir DIR [--listen 127.0.0.1:7070] [--metrics-port 9464]\n"
      "                   [--auth-tokens FILE] [--worker-join-token T] [--tls-cert C --tls-key K]\n"
      "                   [--local-workers N [--local-worker-args \"...\"]]");
  vmae::DashesToUnderscoresInFlagNames(argc, argv);
  absl::ParseCommandLine(argc, argv);
  return vmae::server::Run();
}
