// The agent's command line: every flag, its default and the environment
// variables it falls back on. Flags are "--name value" or "--name=value",
// with dashes or underscores (as vmae-coordinator accepts them).
#ifndef VMAE_WORKER_AGENT_AGENT_CONFIG_H_
#define VMAE_WORKER_AGENT_AGENT_CONFIG_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmae/v1/types.pb.h"
#include "worker/agent/devices.h"

namespace vmae::worker {

struct AgentConfig {
  std::string coordinator;           // host:port; required
  std::string join_token;            // --join-token, --join-token-file or $VMAE_JOIN_TOKEN
  std::string tls_ca;                // PEM file; TLS to the coordinator when set
  std::vector<vmae::v1::Device> devices;  // one slot each
  std::vector<int> physical_devices;      // --device index a slot's trainer gets
  std::map<std::string, std::string> labels;
  std::string agent_id;              // Default: the hostname.
  std::string node;                  // Default: the hostname.
  std::string pod;                   // Default: $POD_NAME.
  std::string address;               // Default: $POD_IP, else 127.0.0.1.
  std::string work_dir = "./vmae-agent";
  std::vector<std::string> trainer;  // command words; Default: $VMAE_TRAINER, else <self dir>/vmae
  std::string data_root;             // passed to trainers as --data-root
  int threads = 1;                   // per trainer; Default: 1 on cpu, cores / GPUs on cuda
  int collective_timeout_s = 0;      // 0: the trainer's default
  std::string health_file;           // unix time of the last good heartbeat

  // Modes other than running the agent.
  bool help = false;
  std::string check_health;          // --check-health FILE
  int max_age_s = 30;                // --max-age-s
};

// What the parser reads besides argv (injected for tests).
struct AgentEnvironment {
  std::function<std::string(const std::string&)> getenv;  // "" when unset
  std::function<absl::StatusOr<std::string>(const std::string&)> read_file;
  std::string hostname;
  std::string self_dir;  // folder of the vmae-worker binary
  int cpu_cores = 1;
  DeviceProbe probe;
};

AgentEnvironment SystemEnvironment(const char* argv0);

// args excludes argv[0]. Errors name the flag and what to do.
absl::StatusOr<AgentConfig> ParseAgentFlags(const std::vector<std::string>& args,
                                            const AgentEnvironment& env);

// "k=v,k2=v2" -> map; empty string -> empty map.
absl::StatusOr<std::map<std::string, std::string>> ParseLabels(const std::string& flag);

extern const char kAgentUsage[];

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_AGENT_CONFIG_H_
