// vmae-worker: wiring only. Flags -> Agent; SIGTERM/SIGINT -> shutdown;
// --check-health FILE is the Kubernetes probe mode.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/shutdown_signals.h"
#include "worker/agent/agent.h"
#include "worker/agent/agent_config.h"
#include "worker/agent/health_file.h"

namespace vmae::worker {
namespace {

int Run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  AgentEnvironment env = SystemEnvironment(argv[0]);
  auto config = ParseAgentFlags(args, env);
  if (!config.ok()) {
    std::fprintf(stderr, "vmae-worker: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->help) {
    std::fputs(kAgentUsage, stdout);
    return 0;
  }
  if (!config->check_health.empty()) {
    absl::Status s = CheckHealthFile(config->check_health, config->max_age_s,
                                     absl::ToUnixSeconds(absl::Now()));
    if (!s.ok()) {
      std::fprintf(stderr, "unhealthy: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    return 0;
  }
  std::error_code ec;
  std::filesystem::create_directories(config->work_dir, ec);
  if (ec) {
    LogError(absl::StrCat("cannot create --work-dir ", config->work_dir, ": ", ec.message()));
    return 1;
  }
  config->work_dir = std::filesystem::absolute(config->work_dir).lexically_normal().string();
  if (!config->tls_ca.empty() && !env.read_file(config->tls_ca).ok()) {
    LogError(absl::StrCat("cannot read --tls-ca ", config->tls_ca));
    return 1;
  }
  LogInfo(absl::StrCat("vmae-worker ", config->agent_id, ": ", config->devices.size(), " ",
                       config->devices[0].kind(), " slots, coordinator ", config->coordinator,
                       ", work dir ", config->work_dir, ", trainer ", config->trainer[0]));
  Agent agent(*config);
  agent.Start();

  const int sig = WaitForShutdownSignal();
  LogInfo(absl::StrCat("signal ", sig, ": killing trainers and closing the session"));
  agent.Shutdown();
  return 0;
}

}  // namespace
}  // namespace vmae::worker

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so sigwait gets
  // them (trainers unblock them before exec).
  vmae::BlockShutdownSignals();
  // As in the coordinator: Debian's Abseil checks Mutex deadlocks on every call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return vmae::worker::Run(argc, argv);
}
