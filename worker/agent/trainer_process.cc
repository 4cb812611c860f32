#include "worker/agent/trainer_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace vmae::worker {

namespace {

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainerProcess>> TrainerProcess::Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return absl::InvalidArgumentError("empty trainer command");
  // Everything the child needs is built before fork: after fork in a
  // multithreaded process only async-signal-safe calls are allowed.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    std::string key = kv.substr(0, kv.find('='));
    if (o.env.count(key) == 0) env_strings.push_back(std::move(kv));
  }
  for (const auto& [k, v] : o.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = o.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out[2], err[2], status_pipe[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::ResourceExhaustedError("pipe: out of file descriptors");
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(out[0]);
    close(out[1]);
    return absl::ResourceExhaustedError("pipe: out of file descriptors");
  }
  // Reports an exec failure (errno) to the parent; closed by a successful exec.
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return absl::ResourceExhaustedError("pipe: out of file descriptors");
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const char* cwd = o.cwd.empty() ? nullptr : o.cwd.c_str();
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out[0], out[1], err[0], err[1], status_pipe[0], status_pipe[1], devnull}) {
      if (fd >= 0) close(fd);
    }
    return absl::ResourceExhaustedError(absl::StrCat("fork failed: ", strerror(errno)));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the agent died between fork and prctl
    // The agent blocks SIGTERM/SIGINT for sigwait and ignores SIGPIPE; the
    // trainer must see both with their default behaviour.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    int e = 0;
    if (cwd != nullptr && chdir(cwd) != 0) {
      e = errno;
    } else {
      execvpe(argv[0], argv.data(), envp.data());
      e = errno;
    }
    ssize_t ignored = write(status_pipe[1], &e, sizeof(e));
    (void)ignored;
    _exit(127);
  }
  // Also from the parent, so a Signal() right after Spawn reaches the group.
  setpgid(pid, pid);
  for (int fd : {out[1], err[1], status_pipe[1], devnull}) {
    if (fd >= 0) close(fd);
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(status_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  close(status_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    int st = 0;
    waitpid(pid, &st, 0);
    close(out[0]);
    close(err[0]);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start trainer '", o.argv[0], "': ", strerror(child_errno),
                     "; set --trainer or $VMAE_TRAINER to the vmae binary"));
  }
  return std::unique_ptr<TrainerProcess>(new TrainerProcess(pid, out[0], err[0], o.max_line));
}

TrainerProcess::TrainerProcess(pid_t pid, int out_fd, int err_fd, size_t max_line)
    : pid_(pid), out_fd_(out_fd), err_fd_(err_fd), max_line_(max_line) {}

TrainerProcess::~TrainerProcess() {
  {
    absl::MutexLock lock(&mu_);
    if (!reaped_) {
      killpg(pid_, SIGKILL);
      int st = 0;
      if (waitpid(pid_, &st, 0) == pid_) {
        reaped_ = true;
        status_ = st;
      }
    }
  }
  CloseFd(out_fd_);
  CloseFd(err_fd_);
}

bool TrainerProcess::ReapLocked(int* status) {
  if (reaped_) {
    *status = status_;
    return true;
  }
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    *status = st;
    return true;
  }
  return false;
}

bool TrainerProcess::Signal(int sig) {
  absl::MutexLock lock(&mu_);
  if (reaped_) return false;
  return killpg(pid_, sig) == 0;
}

int TrainerProcess::Run(const LineFn& on_stdout, const LineFn& on_stderr,
                        const std::function<void()>& tick, int tick_ms) {
  LineBuffer out_lines(max_line_), err_lines(max_line_);
  std::vector<char> buf(64 * 1024);
  int status = 0;
  bool exited = false;
  std::chrono::steady_clock::time_point exited_at;
  auto last_tick = std::chrono::steady_clock::now();
  while (true) {
    pollfd fds[2];
    int nfds = 0;
    if (out_fd_ >= 0) fds[nfds++] = {out_fd_, POLLIN, 0};
    if (err_fd_ >= 0) fds[nfds++] = {err_fd_, POLLIN, 0};
    if (nfds == 0 && exited) break;
    if (nfds > 0) {
      int r = poll(fds, static_cast<nfds_t>(nfds), exited ? 50 : std::min(tick_ms, 100));
      if (r < 0 && errno != EINTR) break;
      for (int i = 0; i < nfds && r > 0; ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        bool is_out = fds[i].fd == out_fd_;
        ssize_t n = read(fds[i].fd, buf.data(), buf.size());
        if (n > 0) {
          (is_out ? out_lines : err_lines)
              .Append(absl::string_view(buf.data(), static_cast<size_t>(n)),
                      is_out ? on_stdout : on_stderr);
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          (is_out ? out_lines : err_lines).Finish(is_out ? on_stdout : on_stderr);
          CloseFd(is_out ? out_fd_ : err_fd_);
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!exited) {
      absl::MutexLock lock(&mu_);
      if (ReapLocked(&status)) {
        exited = true;
        exited_at = std::chrono::steady_clock::now();
      }
    } else if (std::chrono::steady_clock::now() - exited_at > std::chrono::seconds(2)) {
      // A leftover grandchild holds the pipes open: stop reading; the
      // destructor closes them.
      out_lines.Finish(on_stdout);
      err_lines.Finish(on_stderr);
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (tick && now - last_tick >= std::chrono::milliseconds(tick_ms)) {
      last_tick = now;
      tick();
    }
  }
  // The pipes drained before the process was seen exiting: wait for it.
  while (!exited) {
    {
      absl::MutexLock lock(&mu_);
      if (ReapLocked(&status)) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto now = std::chrono::steady_clock::now();
    if (tick && now - last_tick >= std::chrono::milliseconds(tick_ms)) {
      last_tick = now;
      tick();
    }
  }
  if (tick) tick();
  return status;
}

}  // namespace vmae::worker
