#include "bench/load_bench_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmae::bench {

namespace fs = std::filesystem;

namespace {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Value of label `name` in a Prometheus sample line, "" when absent.
std::string LabelValue(const std::string& line, const std::string& name) {
  std::string key = name + "=\"";
  size_t at = line.find(key);
  if (at == std::string::npos) {
    return "";
  }
  at += key.size();
  size_t end = line.find('"', at);
  return end == std::string::npos ? "" : line.substr(at, end - at);
}

// The sample value: the text after the last space.
double SampleValue(const std::string& line) {
  size_t sp = line.rfind(' ');
  if (sp == std::string::npos) {
    return 0;
  }
  return std::strtod(line.c_str() + sp + 1, nullptr);
}

}  // namespace

ScratchDir::ScratchDir() {
  std::string tmpl = (fs::temp_directory_path() / "vmae-load-bench-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = buf.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

CoordinatorLauncher::~CoordinatorLauncher() {
  if (pid_ > 0) {
    Stop();
  }
}

absl::Status CoordinatorLauncher::Start() {
  const std::string port_file = dir_.path() + "/ports";
  const std::string log_path = dir_.path() + "/coordinator.log";
  argv_ = {binary_, "--listen=127.0.0.1:0", "--metrics-port=0",
           absl::StrCat("--state-dir=", dir_.path(), "/state"),
           absl::StrCat("--port-file=", port_file)};
  for (const auto& f : extra_flags_) {
    argv_.push_back(f);
  }
  if (access(binary_.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        "coordinator binary ", binary_,
        " is missing or not executable; build it (ninja -C build vmae-coordinator) or pass "
        "--coordinator PATH or --server ADDR"));
  }
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) {
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid_ == 0) {
    // Die with the benchmark (and not outlive a crash of it).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
      _exit(126);
    }
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : argv_) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(
          absl::StrCat("the coordinator exited during start-up; its log:\n", Log()));
    }
    std::ifstream in(port_file);
    if (in) {
      std::string line;
      while (std::getline(in, line)) {
        std::vector<std::string> kv = absl::StrSplit(line, '=');
        if (kv.size() != 2) {
          continue;
        }
        if (kv[0] == "grpc") {
          (void)absl::SimpleAtoi(kv[1], &grpc_port_);
        }
        if (kv[0] == "metrics") {
          (void)absl::SimpleAtoi(kv[1], &metrics_port_);
        }
      }
      if (grpc_port_ > 0) {
        return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return absl::DeadlineExceededError(
      absl::StrCat("the coordinator did not write its port file within 30 s; its log:\n", Log()));
}

int CoordinatorLauncher::Stop() {
  if (pid_ <= 0) {
    return -1;
  }
  kill(pid_, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (waitpid(pid_, &status, WNOHANG) != pid_) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string CoordinatorLauncher::Log() const { return ReadWholeFile(dir_.path() + "/coordinator.log"); }

double ProcessCpuSeconds(pid_t pid) {
  std::string stat = ReadWholeFile(absl::StrCat("/proc/", pid, "/stat"));
  // The command name (field 2) may hold spaces; count fields after its ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) {
    return -1;
  }
  std::vector<std::string> f =
      absl::StrSplit(stat.substr(close + 2), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state); utime and stime are fields 14 and 15.
  if (f.size() < 13) {
    return -1;
  }
  double utime = 0;
  double stime = 0;
  if (!absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) {
    return -1;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

int ThreadCount(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v(line);
    if (absl::ConsumePrefix(&v, "Threads:")) {
      int n = -1;
      return absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &n) ? n : -1;
    }
  }
  return -1;
}

SystemCpuTimes ReadSystemCpuTimes() {
  std::ifstream in("/proc/stat");
  std::string line;
  SystemCpuTimes t;
  if (!std::getline(in, line) || line.rfind("cpu ", 0) != 0) {
    return t;
  }
  std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  // cpu user nice system idle iowait irq softirq steal ...: busy is what
  // ran in this VM; steal (time the host gave to others) is kept apart.
  for (size_t i = 1; i < f.size() && i <= 8; ++i) {
    uint64_t v = 0;
    (void)absl::SimpleAtoi(f[i], &v);
    t.total += v;
    if (i == 8) {
      t.steal += v;
    } else if (i != 4 && i != 5) {
      t.busy += v;
    }
  }
  return t;
}

double BusyPercent(const SystemCpuTimes& before, const SystemCpuTimes& after, int cpus) {
  if (after.total <= before.total) {
    return 0;
  }
  return 100.0 * cpus * static_cast<double>(after.busy - before.busy) /
         static_cast<double>(after.total - before.total);
}

double StealPercent(const SystemCpuTimes& before, const SystemCpuTimes& after, int cpus) {
  if (after.total <= before.total) {
    return 0;
  }
  return 100.0 * cpus * static_cast<double>(after.steal - before.steal) /
         static_cast<double>(after.total - before.total);
}

std::string LoadAverage() {
  std::string s = ReadWholeFile("/proc/loadavg");
  std::vector<std::string> f = absl::StrSplit(s, ' ', absl::SkipEmpty());
  return f.size() >= 3 ? absl::StrCat(f[0], " ", f[1], " ", f[2]) : "unknown";
}

int OnlineCpus() { return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN)); }

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view v(line);
    if (absl::ConsumePrefix(&v, "model name")) {
      size_t colon = v.find(':');
      if (colon != absl::string_view::npos) {
        return std::string(absl::StripAsciiWhitespace(v.substr(colon + 1)));
      }
    }
  }
  return "unknown";
}

std::string FetchMetrics(int port) {
  if (port <= 0) {
    return "";
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return "";
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return "";
  }
  std::string resp;
  char buf[16384];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    resp.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

ServerRpcHistogram ParseRpcHistogram(const std::string& metrics_text, const std::string& method) {
  constexpr absl::string_view kName = "vmae_grpc_request_duration_seconds";
  ServerRpcHistogram h;
  for (absl::string_view line_view : absl::StrSplit(metrics_text, '\n')) {
    if (!absl::StartsWith(line_view, kName)) {
      continue;
    }
    std::string line(line_view);
    if (LabelValue(line, "method") != method) {
      continue;
    }
    absl::string_view rest = line_view.substr(kName.size());
    if (absl::StartsWith(rest, "_count")) {
      h.count = SampleValue(line);
    } else if (absl::StartsWith(rest, "_sum")) {
      h.sum_seconds = SampleValue(line);
    } else if (absl::StartsWith(rest, "_bucket")) {
      std::string le = LabelValue(line, "le");
      double bound = le == "+Inf" ? std::numeric_limits<double>::infinity()
                                  : std::strtod(le.c_str(), nullptr);
      h.cumulative[bound] = SampleValue(line);
    }
  }
  return h;
}

ServerRpcHistogram Subtract(const ServerRpcHistogram& after, const ServerRpcHistogram& before) {
  ServerRpcHistogram d;
  d.count = after.count - before.count;
  d.sum_seconds = after.sum_seconds - before.sum_seconds;
  for (const auto& [le, n] : after.cumulative) {
    auto it = before.cumulative.find(le);
    d.cumulative[le] = n - (it == before.cumulative.end() ? 0 : it->second);
  }
  return d;
}

int64_t QueuedJobs(const std::string& metrics_text) {
  for (absl::string_view line_view : absl::StrSplit(metrics_text, '\n')) {
    if (!absl::StartsWith(line_view, "vmae_jobs{")) {
      continue;
    }
    std::string line(line_view);
    if (LabelValue(line, "state") == "QUEUED") {
      return static_cast<int64_t>(SampleValue(line));
    }
  }
  return -1;
}

double BucketQuantile(const ServerRpcHistogram& h, double q) {
  if (h.count <= 0) {
    return 0;
  }
  for (const auto& [le, n] : h.cumulative) {
    if (n >= q * h.count) {
      return le;
    }
  }
  return std::numeric_limits<double>::infinity();
}

LatencySummary Summarize(std::vector<int64_t>& nanos) {
  LatencySummary s;
  s.count = static_cast<int64_t>(nanos.size());
  if (nanos.empty()) {
    return s;
  }
  std::sort(nanos.begin(), nanos.end());
  auto rank = [&](double q) {
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(nanos.size())));
    i = std::min(std::max<size_t>(i, 1), nanos.size());
    return static_cast<double>(nanos[i - 1]) / 1e6;
  };
  long double sum = 0;
  for (int64_t n : nanos) {
    sum += n;
  }
  s.mean_ms = static_cast<double>(sum / nanos.size()) / 1e6;
  s.p50_ms = rank(0.50);
  s.p90_ms = rank(0.90);
  s.p99_ms = rank(0.99);
  s.max_ms = static_cast<double>(nanos.back()) / 1e6;
  return s;
}

}  // namespace vmae::bench
