#include "tests/testing/coordinator_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/health_check_service_interface.h"

namespace vmae::testing {

namespace fs = std::filesystem;

std::string BinaryPath(const std::string& name) {
  return absl::StrCat(VMAE_BINARY_DIR, "/bin/", name);
}

std::string SourcePath(const std::string& rel) { return absl::StrCat(VMAE_SOURCE_DIR, "/", rel); }

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CoordinatorProcess::~CoordinatorProcess() {
  if (pid_ > 0) Kill();
}

bool CoordinatorProcess::Start(std::string* error) {
  ++starts_;
  std::string port_file = absl::StrCat(config_.state_dir, "/ports-", starts_);
  log_path_ = absl::StrCat(config_.state_dir, "/coordinator-", starts_, ".log");
  fs::create_directories(config_.state_dir);
  std::error_code ec;
  fs::remove(port_file, ec);  // a file left by an earlier process would mislead us
  std::vector<std::string> args = {BinaryPath("vmae-coordinator"),
                                   "--listen=127.0.0.1:0",
                                   "--metrics-port=0",
                                   absl::StrCat("--state-dir=", config_.state_dir, "/state"),
                                   absl::StrCat("--port-file=", port_file)};
  if (!config_.tokens_file.empty()) args.push_back("--auth-tokens=" + config_.tokens_file);
  if (!config_.join_token.empty()) args.push_back("--worker-join-token=" + config_.join_token);
  for (const auto& e : config_.extra) args.push_back(e);

  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (error) *error = log();
      return false;
    }
    std::ifstream in(port_file);
    if (in) {
      std::string line;
      while (std::getline(in, line)) {
        std::vector<std::string> kv = absl::StrSplit(line, '=');
        if (kv.size() != 2) continue;
        if (kv[0] == "grpc") (void)absl::SimpleAtoi(kv[1], &grpc_port_);
        if (kv[0] == "metrics") (void)absl::SimpleAtoi(kv[1], &metrics_port_);
      }
      if (grpc_port_ > 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (error) *error = "coordinator did not start within 30 s:\n" + log();
  Kill();
  return false;
}

int CoordinatorProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void CoordinatorProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string CoordinatorProcess::log() const { return ReadFileOrDie(log_path_); }

std::shared_ptr<grpc::Channel> CoordinatorProcess::Channel() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 << 20);
  args.SetMaxSendMessageSize(64 << 20);  // lets tests send oversized messages
  return grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<vmae::v1::JobService::Stub> CoordinatorProcess::Jobs() const {
  return vmae::v1::JobService::NewStub(Channel());
}

std::unique_ptr<vmae::v1::WorkerService::Stub> CoordinatorProcess::Workers() const {
  return vmae::v1::WorkerService::NewStub(Channel());
}

int RunCommand(const std::vector<std::string>& argv_in, std::string* output,
               const std::vector<std::string>& env, int timeout_s) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    dup2(pipefd[1], 1);
    dup2(pipefd[1], 2);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<std::string> args = argv_in;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  int status = 0;
  bool done = false;
  while (!done) {
    ssize_t n = read(pipefd[0], buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      waitpid(pid, &status, 0);
      done = true;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      out += "\n[killed after timeout]";
      done = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  close(pipefd[0]);
  if (output) *output = out;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void Authorize(grpc::ClientContext* ctx, const std::string& token, int timeout_s) {
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
}

std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

}  // namespace vmae::testing
