#include "worker/agent/agent_config.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmae::worker {

const char kAgentUsage[] =
    R"(vmae-worker: the vmae node agent. Registers this node's devices with the
coordinator, keeps the lease, runs one trainer process per assigned rank,
relays its reports and kills it on cancel, restart or pause timeout.

  vmae-worker --coordinator HOST:PORT [--join-token-file F] [--devices cpu:2] ...
  vmae-worker --check-health FILE [--max-age-s 30]

Flags (--name value or --name=value; dashes or underscores):
  --coordinator ADDR         coordinator gRPC address (required)
  --join-token T             agents' join token (also --join-token-file F, else $VMAE_JOIN_TOKEN)
  --join-token-file F        file holding the join token (whitespace trimmed)
  --tls-ca FILE              PEM roots; TLS to the coordinator when given
  --devices SPEC             cpu:N | cuda:all | cuda:I,J,...  one slot per device (default cpu:1);
                             cuda:all counts /dev/nvidia[0-9]* or $VMAE_GPU_COUNT
  --labels k=v,...           labels job selectors match (e.g. gpu=h100,zone=a)
  --agent-id ID              stable id, reused on reconnect (default: hostname)
  --node NAME                node name; ranks are packed by node (default: hostname)
  --pod NAME                 Kubernetes pod name (default: $POD_NAME)
  --address IP               address other nodes reach this one on for rendezvous
                             (default: $POD_IP, else 127.0.0.1)
  --work-dir DIR             trainers' work dirs and fetched checkpoints (default ./vmae-agent)
  --trainer CMD              trainer command, split on spaces (default: $VMAE_TRAINER,
                             else the vmae binary next to vmae-worker)
  --data-root DIR            passed to trainers; relative data paths resolve against it
  --threads N                intra-op threads per trainer (default 1 on cpu, cores/GPUs on cuda)
  --collective-timeout-s S   passed to trainers (default: the trainer's, 300)
  --health-file FILE         the unix time of the last good heartbeat is written here
  --check-health FILE        probe mode: exit 0 if FILE holds a time newer than --max-age-s
  --max-age-s N              age limit for --check-health (default 30)
  --help                     this text

Environment: VMAE_JOIN_TOKEN, VMAE_TRAINER, VMAE_GPU_COUNT, POD_NAME, POD_IP,
VMAE_LOG_LEVEL=debug. SIGTERM or SIGINT kills every trainer and exits 0.
)";

namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Flags that take a value, by canonical (underscore) name.
const std::set<std::string>& ValueFlags() {
  static const auto* flags = new std::set<std::string>{
      "coordinator", "join_token", "join_token_file", "tls_ca",   "devices",
      "labels",      "agent_id",   "node",            "pod",      "address",
      "work_dir",    "trainer",    "data_root",       "threads",  "collective_timeout_s",
      "health_file", "check_health", "max_age_s"};
  return *flags;
}

bool IsSafeId(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

AgentEnvironment SystemEnvironment(const char* argv0) {
  AgentEnvironment env;
  env.getenv = [](const std::string& name) {
    const char* v = ::getenv(name.c_str());
    return std::string(v == nullptr ? "" : v);
  };
  env.read_file = ReadWholeFile;
  char host[HOST_NAME_MAX + 1] = {0};
  if (gethostname(host, sizeof(host) - 1) == 0) env.hostname = host;
  char self[PATH_MAX + 1] = {0};
  ssize_t n = readlink("/proc/self/exe", self, PATH_MAX);
  std::string path = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv0);
  size_t slash = path.rfind('/');
  env.self_dir = slash == std::string::npos ? "." : path.substr(0, slash);
  env.cpu_cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  env.probe = SystemDeviceProbe();
  return env;
}

absl::StatusOr<std::map<std::string, std::string>> ParseLabels(const std::string& flag) {
  std::map<std::string, std::string> out;
  for (absl::string_view part : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    std::vector<std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    std::string key(absl::StripAsciiWhitespace(kv[0]));
    if (kv.size() != 2 || key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--labels: '", part, "' is not key=value; write e.g. gpu=h100,zone=a"));
    }
    out[key] = std::string(absl::StripAsciiWhitespace(kv[1]));
  }
  return out;
}

absl::StatusOr<AgentConfig> ParseAgentFlags(const std::vector<std::string>& args,
                                            const AgentEnvironment& env) {
  std::map<std::string, std::string> values;
  AgentConfig c;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help" || a == "-help") {
      c.help = true;
      continue;
    }
    if (!absl::StartsWith(a, "--") || a.size() == 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", a, "'; see vmae-worker --help"));
    }
    std::string name = a.substr(2);
    std::string value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    name = absl::StrReplaceAll(name, {{"-", "_"}});
    if (ValueFlags().count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; see vmae-worker --help"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    }
    values[name] = value;
  }
  auto get = [&](const std::string& name, const std::string& def = "") {
    auto it = values.find(name);
    return it == values.end() ? def : it->second;
  };
  auto get_int = [&](const std::string& name, int def, int lo, int hi) -> absl::StatusOr<int> {
    auto it = values.find(name);
    if (it == values.end()) return def;
    int v = 0;
    if (!absl::SimpleAtoi(it->second, &v) || v < lo || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " '", it->second,
                                                     "' must be an integer in ", lo, "..", hi));
    }
    return v;
  };

  auto max_age = get_int("max_age_s", 30, 1, 86400 * 365);
  if (!max_age.ok()) return max_age.status();
  c.max_age_s = *max_age;
  c.check_health = get("check_health");
  if (c.help || !c.check_health.empty()) return c;

  c.coordinator = get("coordinator");
  if (c.coordinator.empty()) {
    return absl::InvalidArgumentError(
        "--coordinator is required (host:port of vmae-coordinator, e.g. 127.0.0.1:7070)");
  }
  c.join_token = get("join_token");
  if (values.count("join_token_file")) {
    if (values.count("join_token")) {
      return absl::InvalidArgumentError("give --join-token or --join-token-file, not both");
    }
    auto t = env.read_file(get("join_token_file"));
    if (!t.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--join-token-file: ", t.status().message(), "; check the path and its permissions"));
    }
    c.join_token = std::string(absl::StripAsciiWhitespace(*t));
  }
  if (c.join_token.empty()) c.join_token = env.getenv("VMAE_JOIN_TOKEN");
  c.tls_ca = get("tls_ca");

  auto devices = ParseDevices(get("devices", "cpu:1"), env.probe, &c.physical_devices);
  if (!devices.ok()) return devices.status();
  c.devices = std::move(*devices);
  auto labels = ParseLabels(get("labels"));
  if (!labels.ok()) return labels.status();
  c.labels = std::move(*labels);

  c.agent_id = get("agent_id", env.hostname);
  if (!IsSafeId(c.agent_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--agent-id '", c.agent_id,
                     "' must be 1-128 letters, digits, '.', '_' or '-'; pass one explicitly"));
  }
  c.node = get("node", env.hostname);
  if (c.node.empty()) c.node = c.agent_id;
  c.pod = get("pod", env.getenv("POD_NAME"));
  std::string pod_ip = env.getenv("POD_IP");
  c.address = get("address", pod_ip.empty() ? "127.0.0.1" : pod_ip);
  c.work_dir = get("work_dir", "./vmae-agent");
  if (c.work_dir.empty()) return absl::InvalidArgumentError("--work-dir must not be empty");

  std::string trainer = get("trainer", env.getenv("VMAE_TRAINER"));
  if (trainer.empty()) trainer = env.self_dir + "/vmae";
  c.trainer = absl::StrSplit(trainer, ' ', absl::SkipEmpty());
  if (c.trainer.empty()) return absl::InvalidArgumentError("--trainer must not be empty");
  c.data_root = get("data_root");

  bool cuda = !c.devices.empty() && c.devices[0].kind() == "cuda";
  int default_threads =
      cuda ? std::max(1, env.cpu_cores / static_cast<int>(c.devices.size())) : 1;
  auto threads = get_int("threads", default_threads, 1, 1024);
  if (!threads.ok()) return threads.status();
  c.threads = *threads;
  auto cto = get_int("collective_timeout_s", 0, 0, 86400 * 7);
  if (!cto.ok()) return cto.status();
  c.collective_timeout_s = *cto;
  c.health_file = get("health_file");
  return c;
}

}  // namespace vmae::worker
