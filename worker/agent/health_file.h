// The agent's liveness file for Kubernetes probes: the agent writes the unix
// time of its last successful heartbeat; `vmae-worker --check-health FILE
// --max-age-s N` judges it. A file, not a port, so the probe needs no
// network and no credentials.
#ifndef VMAE_WORKER_AGENT_HEALTH_FILE_H_
#define VMAE_WORKER_AGENT_HEALTH_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace vmae::worker {

// Writes "<unix_seconds>\n" atomically (temporary file, then rename), so a
// probe never reads a half-written file.
absl::Status WriteHealthFile(const std::string& path, int64_t unix_seconds);

// OK when `path` holds a time at most max_age_s before now_unix; otherwise
// says why (missing, unreadable, too old).
absl::Status CheckHealthFile(const std::string& path, int64_t max_age_s, int64_t now_unix);

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_HEALTH_FILE_H_
