// One trainer process: started with fork/exec into its own process group
// (so a kill reaches everything it started), stdout and stderr on pipes,
// stdin from /dev/null. Thread-safe: Run() on one thread, Signal() from any.
#ifndef VMAE_WORKER_AGENT_TRAINER_PROCESS_H_
#define VMAE_WORKER_AGENT_TRAINER_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/agent/line_buffer.h"

namespace vmae::worker {

struct SpawnOptions {
  std::vector<std::string> argv;             // argv[0] is looked up in PATH when it has no '/'
  std::map<std::string, std::string> env;    // set on top of the agent's environment
  std::string cwd;                           // empty: the agent's
  size_t max_line = LineBuffer::kDefaultMaxLine;
};

class TrainerProcess {
 public:
  using LineFn = LineBuffer::Emit;

  // Starts it. Fails (and nothing runs) when the program cannot be executed.
  // Call from the thread that will call Run(): the child gets SIGKILL when
  // that thread ends (PR_SET_PDEATHSIG), so an agent that dies takes its
  // trainers with it.
  static absl::StatusOr<std::unique_ptr<TrainerProcess>> Spawn(const SpawnOptions& options);
  ~TrainerProcess();  // SIGKILLs the group if it still runs, reaps, closes the pipes

  TrainerProcess(const TrainerProcess&) = delete;
  TrainerProcess& operator=(const TrainerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Relays output line by line until the process has exited and its pipes
  // are drained; calls tick() about every tick_ms. Returns the wait status.
  int Run(const LineFn& on_stdout, const LineFn& on_stderr, const std::function<void()>& tick,
          int tick_ms = 200);

  // Sends sig to the whole process group, unless the process was reaped
  // (its pid may have been reused). Returns false when it was.
  bool Signal(int sig);

 private:
  TrainerProcess(pid_t pid, int out_fd, int err_fd, size_t max_line);
  bool ReapLocked(int* status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const pid_t pid_;
  int out_fd_;
  int err_fd_;
  size_t max_line_;
  absl::Mutex mu_;
  bool reaped_ ABSL_GUARDED_BY(mu_) = false;
  int status_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_TRAINER_PROCESS_H_
