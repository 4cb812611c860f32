// Starts the real vmae-coordinator binary for integration tests: loopback,
// ephemeral ports (reported through --port-file), a temporary state dir.
// Not thread-safe; one per test.
#ifndef VMAE_TESTS_TESTING_COORDINATOR_PROCESS_H_
#define VMAE_TESTS_TESTING_COORDINATOR_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "tests/testing/temp_dir.h"
#include "vmae/v1/job_service.grpc.pb.h"
#include "vmae/v1/worker_service.grpc.pb.h"

namespace vmae::testing {

std::string BinaryPath(const std::string& name);  // ${build}/bin/<name>
std::string SourcePath(const std::string& rel);   // ${source}/<rel>
void WriteFile(const std::string& path, const std::string& text);
std::string ReadFileOrDie(const std::string& path);

struct CoordinatorConfig {
  std::string state_dir;           // required
  std::vector<std::string> extra;  // more flags
  std::string tokens_file;         // --auth-tokens
  std::string join_token;          // --worker-join-token
};

class CoordinatorProcess {
 public:
  explicit CoordinatorProcess(CoordinatorConfig config) : config_(std::move(config)) {}
  ~CoordinatorProcess();

  // Starts it and waits until it serves (port file written and a health
  // check answers). Returns false, with the log in `error`, if it exits.
  bool Start(std::string* error = nullptr);
  // SIGTERM and wait; returns the exit status.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  bool running() const { return pid_ > 0; }

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  std::string log() const;  // what it printed so far

  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<vmae::v1::JobService::Stub> Jobs() const;
  std::unique_ptr<vmae::v1::WorkerService::Stub> Workers() const;

 private:
  CoordinatorConfig config_;
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
  int starts_ = 0;
};

// Runs a command line, returning its exit code and combined output.
int RunCommand(const std::vector<std::string>& argv, std::string* output,
               const std::vector<std::string>& env = {}, int timeout_s = 60);

// Adds "authorization: Bearer <token>" (when non-empty) and a deadline.
void Authorize(grpc::ClientContext* ctx, const std::string& token, int timeout_s = 10);

// GET http://127.0.0.1:<port><path>; returns the body or "" on failure.
std::string HttpGet(int port, const std::string& path);

}  // namespace vmae::testing

#endif  // VMAE_TESTS_TESTING_COORDINATOR_PROCESS_H_
