#include "server/local_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace vmae::server {

namespace {

std::string SelfDir() {
  char buf[PATH_MAX + 1] = {0};
  ssize_t n = readlink("/proc/self/exe", buf, PATH_MAX);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

absl::StatusOr<std::string> GenerateJoinToken() {
  unsigned char bytes[32];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("getrandom failed: ", strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<std::string> WriteJoinTokenFile(const std::string& state_dir,
                                               const std::string& token) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  const std::string path = state_dir + "/agent-join-token";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write ", path, ": ", strerror(errno), "; check --state-dir"));
  }
  fchmod(fd, 0600);  // an older file may have had wider permissions
  std::string text = token + "\n";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return path;
}

std::vector<std::string> LocalWorkerArgs(const LocalWorkerOptions& o,
                                         const std::string& token_file) {
  std::string binary = o.binary.empty() ? SelfDir() + "/vmae-worker" : o.binary;
  std::vector<std::string> args = {binary,
                                   "--devices", absl::StrCat("cpu:", o.slots),
                                   "--coordinator", o.coordinator,
                                   "--join-token-file", token_file,
                                   "--work-dir", o.state_dir + "/agent",
                                   "--agent-id", "local"};
  for (absl::string_view a : absl::StrSplit(o.extra_args, ' ', absl::SkipEmpty())) {
    args.emplace_back(a);
  }
  return args;
}

absl::StatusOr<std::unique_ptr<LocalWorker>> LocalWorker::Start(const LocalWorkerOptions& o) {
  if (o.slots < 1 || o.slots > 1024) {
    return absl::InvalidArgumentError("--local-workers must be between 1 and 1024");
  }
  if (o.join_token.empty()) return absl::InvalidArgumentError("local worker needs a join token");
  auto token_file = WriteJoinTokenFile(o.state_dir, o.join_token);
  if (!token_file.ok()) return token_file.status();
  std::vector<std::string> args = LocalWorkerArgs(o, *token_file);
  if (access(args[0].c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--local-workers: ", args[0],
        " is missing or not executable; build it (ninja vmae-worker) or drop --local-workers"));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::ResourceExhaustedError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // SIGTERM, not SIGKILL: the agent then kills its trainers itself. The
    // signal follows the forking thread, which is main's.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);  // the coordinator died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  LogInfo(absl::StrCat("local worker started (pid ", pid, ", ", o.slots, " cpu slots, work dir ",
                       o.state_dir, "/agent)"));
  return std::unique_ptr<LocalWorker>(new LocalWorker(pid));
}

LocalWorker::~LocalWorker() { Stop(); }

void LocalWorker::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

}  // namespace vmae::server
