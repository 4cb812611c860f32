// The real vmae-coordinator + the real vmae-worker + tests/testing/
// fake_trainer.py on loopback: the agent's whole contract, end to end.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/job_yaml.h"
#include "tests/testing/temp_dir.h"

namespace vmae::testing {
namespace {

using vmae::v1::JobState;
using ::testing::HasSubstr;

constexpr char kJoinToken[] = "agent-test-join-token-0123";

extern "C" char** environ;

bool Alive(pid_t pid) {
  if (kill(pid, 0) != 0) return false;
  // A zombie is dead for our purposes.
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  std::getline(in, stat);
  size_t close = stat.rfind(')');
  return close == std::string::npos || stat.size() < close + 3 || stat[close + 2] != 'Z';
}

// vmae-worker as a child process with its own environment and log file.
class AgentProcess {
 public:
  AgentProcess(std::vector<std::string> args, std::map<std::string, std::string> env,
               std::string log_path)
      : args_(std::move(args)), env_(std::move(env)), log_path_(std::move(log_path)) {}
  ~AgentProcess() { Kill(); }

  void Start() {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    for (const auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& a : args_) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(fd);
  }
  // SIGTERM; returns the exit status.
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const { return ReadFileOrDie(log_path_); }

 private:
  std::vector<std::string> args_;
  std::map<std::string, std::string> env_;
  std::string log_path_;
  pid_t pid_ = -1;
};

class AgentIntegrationTest : public ::testing::Test {
 protected:
  static std::vector<std::string> CoordinatorFlags() {
    return {"--heartbeat-ms=500", "--lease-ms=5000", "--pause-grace-s=20"};
  }

  void StartCoordinator() {
    CoordinatorConfig cfg;
    cfg.state_dir = dir_.File("coord");
    cfg.join_token = kJoinToken;
    cfg.extra = CoordinatorFlags();
    coordinator_ = std::make_unique<CoordinatorProcess>(cfg);
    std::string err;
    ASSERT_TRUE(coordinator_->Start(&err)) << err;
    jobs_ = coordinator_->Jobs();
  }

  void StartAgent(std::map<std::string, std::string> env, int slots = 2) {
    env["FAKE_TRAINER_PID_DIR"] = pid_dir();
    std::filesystem::create_directories(pid_dir());
    agent_ = std::make_unique<AgentProcess>(
        std::vector<std::string>{BinaryPath("vmae-worker"),
                                 "--coordinator", coordinator_->address(),
                                 "--join-token", kJoinToken,
                                 "--devices", absl::StrCat("cpu:", slots),
                                 "--agent-id", "test-agent",
                                 "--work-dir", work_dir(),
                                 "--trainer", absl::StrCat("/usr/bin/python3 ",
                                                           SourcePath("tests/testing/fake_trainer.py")),
                                 "--health-file", dir_.File("health")},
        env, dir_.File("agent.log"));
    agent_->Start();
  }

  void TearDown() override {
    if (::testing::Test::HasFailure()) {
      if (agent_) std::cerr << "---- agent log ----\n" << agent_->log();
      if (coordinator_) std::cerr << "---- coordinator log ----\n" << coordinator_->log();
    }
    if (agent_) agent_->Stop();
    if (coordinator_) coordinator_->Kill();
  }

  std::string work_dir() const { return dir_.File("agent-work"); }
  std::string pid_dir() const { return dir_.File("pids"); }

  std::string Submit(int workers = 2) {
    SmallJob job;
    job.workers = workers;
    vmae::v1::SubmitJobRequest req;
    req.set_spec_yaml(SmallJobYaml(job));
    vmae::v1::Job resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, "");
    grpc::Status s = jobs_->SubmitJob(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.id();
  }

  vmae::v1::Job Get(const std::string& id) {
    vmae::v1::GetJobRequest req;
    req.set_job_id(id);
    vmae::v1::GetJobResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, "");
    jobs_->GetJob(&ctx, req, &resp);
    return resp.job();
  }

  // Polls until pred(job) holds; returns the last job seen.
  vmae::v1::Job WaitFor(const std::string& id, const std::function<bool(const vmae::v1::Job&)>& pred,
                        int timeout_s = 25) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    vmae::v1::Job j;
    while (std::chrono::steady_clock::now() < deadline) {
      j = Get(id);
      if (pred(j)) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "timed out; job is " << j.ShortDebugString();
    return j;
  }

  vmae::v1::Job WaitState(const std::string& id, JobState state, int timeout_s = 25) {
    return WaitFor(id, [&](const vmae::v1::Job& j) { return j.state() == state; }, timeout_s);
  }

  vmae::v1::Job JobRefCall(const std::string& id,
                           grpc::Status (vmae::v1::JobService::Stub::*rpc)(
                               grpc::ClientContext*, const vmae::v1::JobRef&, vmae::v1::Job*)) {
    vmae::v1::JobRef ref;
    ref.set_job_id(id);
    vmae::v1::Job resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, "");
    grpc::Status s = (jobs_.get()->*rpc)(&ctx, ref, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  std::vector<vmae::v1::CheckpointInfo> Checkpoints(const std::string& id) {
    vmae::v1::JobRef ref;
    ref.set_job_id(id);
    vmae::v1::ListCheckpointsResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, "");
    jobs_->ListCheckpoints(&ctx, ref, &resp);
    return {resp.checkpoints().begin(), resp.checkpoints().end()};
  }

  std::vector<vmae::v1::MetricPoint> Metric(const std::string& id, const std::string& name) {
    vmae::v1::GetMetricsRequest req;
    req.set_job_id(id);
    req.set_name(name);
    vmae::v1::GetMetricsResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, "");
    jobs_->GetMetrics(&ctx, req, &resp);
    return {resp.points().begin(), resp.points().end()};
  }

  std::vector<std::string> Logs(const std::string& id) {
    vmae::v1::StreamLogsRequest req;
    req.set_job_id(id);
    req.set_rank(-1);
    grpc::ClientContext ctx;
    Authorize(&ctx, "");
    auto reader = jobs_->StreamLogs(&ctx, req);
    std::vector<std::string> lines;
    vmae::v1::LogLine l;
    while (reader->Read(&l)) lines.push_back(absl::StrCat("[", l.rank(), "] ", l.text()));
    reader->Finish();
    return lines;
  }

  // The trainer's pid (fake_trainer.py writes it), waiting for the file.
  pid_t TrainerPid(const std::string& job, int attempt, int rank) {
    std::string path = absl::StrCat(pid_dir(), "/", job, "-a", attempt, "-r", rank, ".pid");
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(path);
      int pid = 0;
      if (in >> pid && pid > 0) return pid;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "no pid file " << path;
    return -1;
  }

  static bool AllGone(const std::vector<pid_t>& pids, int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      bool any = false;
      for (pid_t p : pids) any = any || (p > 0 && Alive(p));
      if (!any) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // What fake_trainer.py writes as model.safetensors for (job, step).
  static std::string ExpectedWeightsSha(const std::string& job, int64_t step) {
    std::string digest = absl::HexStringToBytes(Sha256Hex(absl::StrCat(job, "-", step)));
    std::string weights;
    for (int i = 0; i < 4096; ++i) weights += digest;
    return Sha256Hex(weights);
  }

  TempDir dir_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::unique_ptr<vmae::v1::JobService::Stub> jobs_;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(AgentIntegrationTest, JobOnTwoRanksSucceedsWithStepsCheckpointsAndLogs) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "12"},
              {"FAKE_TRAINER_EVAL_EVERY", "4"},
              {"FAKE_TRAINER_GARBAGE", "1"}});
  std::string id = Submit();
  vmae::v1::Job j = WaitState(id, vmae::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(j.attempt(), 1);
  EXPECT_EQ(j.step(), 12);
  EXPECT_EQ(j.total_steps(), 12);
  EXPECT_EQ(j.samples_seen(), 12 * 16);  // 8 per rank per step, 2 ranks
  EXPECT_DOUBLE_EQ(j.loss(), 1.0 / 12);

  // Metrics are group-committed; give them a moment.
  std::vector<vmae::v1::MetricPoint> loss;
  for (int i = 0; i < 30 && loss.size() < 12; ++i) {
    loss = Metric(id, "loss");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(loss.size(), 12u);
  for (const auto& p : loss) EXPECT_DOUBLE_EQ(p.value(), 1.0 / p.step());
  std::vector<vmae::v1::MetricPoint> top1 = Metric(id, "val_top1");
  ASSERT_EQ(top1.size(), 3u);  // steps 4, 8, 12
  EXPECT_EQ(top1[0].step(), 4);
  EXPECT_DOUBLE_EQ(top1[0].value(), 54.0);

  // Periodic (5, 10) and final (12) checkpoints; the final one's SHA-256 is
  // what the trainer wrote.
  auto ckpts = Checkpoints(id);
  ASSERT_EQ(ckpts.size(), 3u);
  EXPECT_EQ(ckpts[0].step(), 5);
  EXPECT_EQ(ckpts[2].step(), 12);
  EXPECT_EQ(ckpts[2].samples_seen(), 12 * 16);
  bool found = false;
  for (const auto& f : ckpts[2].files()) {
    if (f.name() == "model.safetensors") {
      found = true;
      EXPECT_EQ(f.sha256(), ExpectedWeightsSha(id, 12));
      EXPECT_EQ(f.size(), 32 * 4096);
    }
  }
  EXPECT_TRUE(found);

  // Plain lines are relayed per rank; a bad trainer line never hurts.
  std::vector<std::string> logs = Logs(id);
  std::string all;
  for (const auto& l : logs) all += l + "\n";
  EXPECT_THAT(all, HasSubstr("[0] step 10 loss 0.1000"));
  EXPECT_THAT(all, HasSubstr("[1] fake trainer rank 1 of 2 on cpu, 1 threads, OMP_NUM_THREADS=1"));
  EXPECT_THAT(all, HasSubstr("[0] this is not json"));
  EXPECT_THAT(all, HasSubstr("[0] {\"event\": \"no-such-event\"}"));

  // spec.json holds the resolved spec; the health file is fresh.
  std::string spec = ReadFileOrDie(absl::StrCat(work_dir(), "/", id, "/a1/r0/spec.json"));
  EXPECT_THAT(spec, HasSubstr("\"every_steps\": 5"));
  std::string rc_out;
  EXPECT_EQ(RunCommand({BinaryPath("vmae-worker"), "--check-health", dir_.File("health"),
                        "--max-age-s", "10"},
                       &rc_out),
            0)
      << rc_out;
  EXPECT_EQ(agent_->Stop(), 0);
}

TEST_F(AgentIntegrationTest, TrainerExitingTwoFailsTheJobAsUserError) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "50"},
              {"FAKE_TRAINER_FAIL_AT", "3"},
              {"FAKE_TRAINER_FAIL_KIND", ""},
              {"FAKE_TRAINER_FAIL_MESSAGE", "data.train: 7 of 8 videos unreadable"}});
  std::string id = Submit();
  vmae::v1::Job j = WaitState(id, vmae::v1::JOB_STATE_FAILED);
  EXPECT_EQ(j.failure_kind(), vmae::v1::FAILURE_KIND_USER);
  // No error event: the message is the last stderr line.
  EXPECT_THAT(j.state_reason(), HasSubstr("rank 0 exited with code 2"));
  EXPECT_THAT(j.state_reason(), HasSubstr("fatal: data.train: 7 of 8 videos unreadable"));
  EXPECT_EQ(j.attempt(), 1);
}

TEST_F(AgentIntegrationTest, KilledTrainerRestartsTheJobFromItsCheckpoint) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "20"}, {"FAKE_TRAINER_SLEEP", "0.15"}});
  std::string id = Submit();
  WaitFor(id, [](const vmae::v1::Job& j) { return j.step() >= 6; });
  ASSERT_FALSE(Checkpoints(id).empty());
  pid_t rank1 = TrainerPid(id, 1, 1);
  ASSERT_EQ(kill(rank1, SIGKILL), 0);
  vmae::v1::Job j = WaitFor(id, [](const vmae::v1::Job& j) { return j.attempt() == 2; });
  EXPECT_EQ(j.restarts(), 1);
  EXPECT_EQ(j.restored_step(), 5);
  EXPECT_TRUE(AllGone({TrainerPid(id, 1, 0)}));  // the rest of attempt 1 was killed
  j = WaitState(id, vmae::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(j.attempt(), 2);
  EXPECT_EQ(j.step(), 20);
  // The restart's first step says where it resumed.
  std::vector<vmae::v1::MetricPoint> restored;
  for (int i = 0; i < 30 && restored.empty(); ++i) {
    restored = Metric(id, "restored_step");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(restored.size(), 1u);
  EXPECT_EQ(restored[0].step(), 6);
  EXPECT_DOUBLE_EQ(restored[0].value(), 5);
  // Attempt 2 resumed from the fetched checkpoint.
  EXPECT_TRUE(std::filesystem::exists(absl::StrCat(work_dir(), "/", id, "/fetched/", id,
                                                   "-s5/model.safetensors")));
}

TEST_F(AgentIntegrationTest, CancelKillsTheTrainers) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "100000"}, {"FAKE_TRAINER_SLEEP", "0.1"}});
  std::string id = Submit();
  WaitFor(id, [](const vmae::v1::Job& j) { return j.step() >= 2; });
  std::vector<pid_t> pids = {TrainerPid(id, 1, 0), TrainerPid(id, 1, 1)};
  for (pid_t p : pids) ASSERT_TRUE(Alive(p));
  JobRefCall(id, &vmae::v1::JobService::Stub::CancelJob);
  WaitState(id, vmae::v1::JOB_STATE_CANCELLED);
  EXPECT_TRUE(AllGone(pids));
  EXPECT_THAT(agent_->log(), HasSubstr("stop order: cancel"));
}

// Rank 1 stops at once; rank 0 takes a second over its pause checkpoint.
// The pause must wait for that checkpoint, not end when the first rank
// stops (which would kill rank 0 before its upload).
TEST_F(AgentIntegrationTest, PauseWaitsForRankZerosCheckpointWhenAnotherRankStopsFirst) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "100000"},
              {"FAKE_TRAINER_SLEEP", "0.1"},
              {"FAKE_TRAINER_PAUSE_DELAY", "1.0"}});
  std::string id = Submit();
  WaitFor(id, [](const vmae::v1::Job& j) { return j.step() >= 2; });
  JobRefCall(id, &vmae::v1::JobService::Stub::PauseJob);
  vmae::v1::Job j = WaitState(id, vmae::v1::JOB_STATE_PAUSED);
  EXPECT_THAT(j.state_reason(), HasSubstr("written; workers released"));
  auto ckpts = Checkpoints(id);
  ASSERT_FALSE(ckpts.empty());
  EXPECT_GE(ckpts.back().step(), 2);
  EXPECT_THAT(agent_->log(), HasSubstr("(pause,"));
}

TEST_F(AgentIntegrationTest, PauseStopsTrainersAfterTheirCheckpoint) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "100000"}, {"FAKE_TRAINER_SLEEP", "0.1"}});
  std::string id = Submit();
  WaitFor(id, [](const vmae::v1::Job& j) { return j.step() >= 2; });
  std::vector<pid_t> pids = {TrainerPid(id, 1, 0), TrainerPid(id, 1, 1)};
  JobRefCall(id, &vmae::v1::JobService::Stub::PauseJob);
  vmae::v1::Job j = WaitState(id, vmae::v1::JOB_STATE_PAUSED);
  EXPECT_THAT(j.state_reason(), HasSubstr("written; workers released"));
  EXPECT_TRUE(AllGone(pids));
  auto ckpts = Checkpoints(id);
  ASSERT_FALSE(ckpts.empty());
  int64_t paused_at = ckpts.back().step();
  EXPECT_GE(paused_at, 2);
  EXPECT_THAT(agent_->log(), HasSubstr("(pause,"));  // the pause checkpoint was uploaded
  // Resuming starts attempt 2 from the pause checkpoint.
  JobRefCall(id, &vmae::v1::JobService::Stub::ResumeJob);
  j = WaitFor(id, [](const vmae::v1::Job& j) {
    return j.state() == vmae::v1::JOB_STATE_RUNNING && j.attempt() == 2;
  });
  EXPECT_EQ(j.restored_step(), paused_at);
  j = WaitFor(id, [&](const vmae::v1::Job& j) { return j.step() > paused_at; });
  JobRefCall(id, &vmae::v1::JobService::Stub::CancelJob);
  WaitState(id, vmae::v1::JOB_STATE_CANCELLED);
}

TEST_F(AgentIntegrationTest, AgentReconnectsToARestartedCoordinatorAndTheJobFinishes) {
  StartCoordinator();
  StartAgent({{"FAKE_TRAINER_STEPS", "50"}, {"FAKE_TRAINER_SLEEP", "0.1"}});
  std::string id = Submit();
  WaitFor(id, [](const vmae::v1::Job& j) { return j.step() >= 3; });
  std::vector<pid_t> pids = {TrainerPid(id, 1, 0), TrainerPid(id, 1, 1)};
  const int port = coordinator_->grpc_port();
  coordinator_->Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (pid_t p : pids) EXPECT_TRUE(Alive(p)) << "trainers keep running while disconnected";
  CoordinatorConfig cfg;
  cfg.state_dir = dir_.File("coord");
  cfg.join_token = kJoinToken;
  cfg.extra = CoordinatorFlags();
  cfg.extra.push_back(absl::StrCat("--listen=127.0.0.1:", port));
  auto restarted = std::make_unique<CoordinatorProcess>(cfg);
  std::string err;
  ASSERT_TRUE(restarted->Start(&err)) << err;
  ASSERT_EQ(restarted->grpc_port(), port);
  coordinator_ = std::move(restarted);
  jobs_ = coordinator_->Jobs();
  vmae::v1::Job j = WaitState(id, vmae::v1::JOB_STATE_SUCCEEDED, 40);
  EXPECT_EQ(j.attempt(), 1) << "the job went on without a restart";
  EXPECT_EQ(j.step(), 50);
  EXPECT_THAT(agent_->log(), HasSubstr("reconnecting"));
}

TEST_F(AgentIntegrationTest, LocalWorkersRunAJobEndToEnd) {
  // The coordinator's child agent inherits this environment.
  setenv("VMAE_TRAINER",
         absl::StrCat("/usr/bin/python3 ", SourcePath("tests/testing/fake_trainer.py")).c_str(), 1);
  setenv("FAKE_TRAINER_STEPS", "8", 1);
  CoordinatorConfig cfg;
  cfg.state_dir = dir_.File("coord");
  cfg.extra = CoordinatorFlags();
  cfg.extra.push_back("--local-workers=2");
  coordinator_ = std::make_unique<CoordinatorProcess>(cfg);
  std::string err;
  bool started = coordinator_->Start(&err);
  unsetenv("VMAE_TRAINER");
  unsetenv("FAKE_TRAINER_STEPS");
  ASSERT_TRUE(started) << err;
  jobs_ = coordinator_->Jobs();
  std::string id = Submit();
  vmae::v1::Job j = WaitState(id, vmae::v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(j.step(), 8);
  // The generated join token is private to the state dir's owner.
  struct stat st;
  const std::string token_file = dir_.File("coord/state/agent-join-token");
  ASSERT_EQ(stat(token_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(absl::StripAsciiWhitespace(ReadFileOrDie(token_file)).size(), 64u);
  // The agent dies with the coordinator.
  EXPECT_EQ(coordinator_->Stop(), 0);
  bool agent_left = true;
  for (int i = 0; i < 100 && agent_left; ++i) {
    agent_left = false;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string cmd = ReadFileOrDie(e.path().string() + "/cmdline");
      if (absl::StrContains(cmd, dir_.File("coord/state/agent-join-token"))) {
        int pid = 0;
        agent_left = absl::SimpleAtoi(e.path().filename().string(), &pid) && Alive(pid);
        if (agent_left) break;
      }
    }
    if (agent_left) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(agent_left);
}

}  // namespace
}  // namespace vmae::testing
