// The embedded default: `vmae-coordinator --local-workers N` runs a child
// vmae-worker (found next to the coordinator binary) offering N CPU slots,
// so one command runs the whole system. The child gets the join token
// through a 0600 file in the state dir (never on its command line, where
// `ps` shows it), dies with the coordinator (PR_SET_PDEATHSIG) and is
// stopped explicitly on shutdown. Not thread-safe; owned by main.
#ifndef VMAE_SERVER_LOCAL_WORKER_H_
#define VMAE_SERVER_LOCAL_WORKER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace vmae::server {

struct LocalWorkerOptions {
  int slots = 1;                  // --devices cpu:<slots>
  std::string coordinator;        // 127.0.0.1:<port>
  std::string join_token;         // required
  std::string state_dir;          // token file and <state_dir>/agent work dir
  std::string extra_args;         // --local-worker-args, split on spaces
  std::string binary;             // Default: vmae-worker next to this executable
};

// 32 random bytes as 64 hex digits (from the OS's CSPRNG).
absl::StatusOr<std::string> GenerateJoinToken();

// Writes the token to <state_dir>/agent-join-token with mode 0600; returns the path.
absl::StatusOr<std::string> WriteJoinTokenFile(const std::string& state_dir,
                                               const std::string& token);

// The child's command line (exposed for tests).
std::vector<std::string> LocalWorkerArgs(const LocalWorkerOptions& options,
                                         const std::string& token_file);

class LocalWorker {
 public:
  static absl::StatusOr<std::unique_ptr<LocalWorker>> Start(const LocalWorkerOptions& options);
  ~LocalWorker();  // Stop()

  // SIGTERM (the agent kills its trainers and exits), SIGKILL after 10 s.
  void Stop();
  pid_t pid() const { return pid_; }

 private:
  explicit LocalWorker(pid_t pid) : pid_(pid) {}
  pid_t pid_;
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_LOCAL_WORKER_H_
