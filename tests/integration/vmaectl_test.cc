// vmaectl end to end: the real vmaectl binary against the real coordinator
// (and a fake agent speaking WorkerService), checking output and exit codes.
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/fake_agent.h"
#include "tests/testing/job_yaml.h"

namespace vmae::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAlice[] = "alice-token-0123456789";
constexpr char kBob[] = "bob-token-0123456789ab";
constexpr char kJoin[] = "join-token-0123456789ab";

// vmaectl's documented exit codes (README, `vmaectl --help`).
constexpr int kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3, kAuth = 4, kNotFound = 5,
              kPrecondition = 6;

class VmaectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() + "/tokens",
              absl::StrCat(kAlice, " alice user\n", kBob, " bob user\n"));
    CoordinatorConfig cfg;
    cfg.state_dir = dir_.path();
    cfg.tokens_file = dir_.path() + "/tokens";
    cfg.join_token = kJoin;
    cfg.extra = {"--lease-ms=3000", "--heartbeat-ms=200"};
    coordinator_ = std::make_unique<CoordinatorProcess>(cfg);
    std::string error;
    ASSERT_TRUE(coordinator_->Start(&error)) << error;
    job_file_ = dir_.path() + "/job.yaml";
    SmallJob job;
    job.name = "cli-demo";
    job.epochs = 1;
    job.workers = 1;
    WriteFile(job_file_, SmallJobYaml(job));
  }

  // Runs vmaectl against the test coordinator as `token`.
  int Ctl(std::vector<std::string> args, std::string* out, const std::string& token = kAlice) {
    std::vector<std::string> argv = {BinaryPath("vmaectl"), "--server", coordinator_->address()};
    if (!token.empty()) {
      argv.push_back("--token");
      argv.push_back(token);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, out, {"VMAE_SERVER=", "VMAE_TOKEN="}, 60);
  }

  std::string SubmitOk() {
    std::string out;
    EXPECT_EQ(Ctl({"submit", job_file_, "-o", "json"}, &out), kOk) << out;
    auto j = nlohmann::json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << out;
    return j.is_object() ? j.value("id", "") : "";
  }

  TempDir dir_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::string job_file_;
};

TEST_F(VmaectlTest, InvalidJobFileExitsTwoNamingLineAndSendsNothing) {
  std::string bad = dir_.path() + "/bad.yaml";
  WriteFile(bad, "kind: pretrain\nname: x\nmodle: {arch: vit_base}\n");
  std::string out;
  EXPECT_EQ(Ctl({"submit", bad}, &out), kUsage);
  EXPECT_THAT(out, HasSubstr("bad.yaml:3:"));
  EXPECT_THAT(out, HasSubstr("did you mean 'model'"));
  EXPECT_EQ(Ctl({"list", "-o", "json"}, &out), kOk);
  EXPECT_THAT(out, Not(HasSubstr("\"id\"")));
}

TEST_F(VmaectlTest, DryRunPrintsResolvedSpecAndStoresNothing) {
  std::string out;
  ASSERT_EQ(Ctl({"submit", job_file_, "--dry-run", "--set", "optimizer.epochs=7"}, &out), kOk) << out;
  EXPECT_THAT(out, HasSubstr("epochs: 7"));
  EXPECT_THAT(out, HasSubstr("mask_ratio: 0.9"));  // the recipe default was filled in
  EXPECT_EQ(Ctl({"list", "-o", "json"}, &out), kOk);
  EXPECT_THAT(out, Not(HasSubstr("cli-demo")));
}

TEST_F(VmaectlTest, SubmitListGetDescribeCancel) {
  std::string id = SubmitOk();
  ASSERT_THAT(id, ::testing::StartsWith("j-"));
  std::string out;
  ASSERT_EQ(Ctl({"list"}, &out), kOk);
  EXPECT_THAT(out, HasSubstr(id));
  EXPECT_THAT(out, HasSubstr("QUEUED"));
  ASSERT_EQ(Ctl({"get", id, "-o", "yaml"}, &out), kOk);
  EXPECT_THAT(out, HasSubstr("state: JOB_STATE_QUEUED"));
  ASSERT_EQ(Ctl({"describe", id}, &out), kOk);
  EXPECT_THAT(out, HasSubstr("Waiting:"));  // why it waits
  EXPECT_THAT(out, HasSubstr("device=cpu"));
  ASSERT_EQ(Ctl({"cancel", id}, &out), kOk) << out;
  EXPECT_THAT(out, HasSubstr("CANCELLED"));
}

TEST_F(VmaectlTest, ExitCodesNameTheProblem) {
  std::string out;
  // Unreachable coordinator: one clear line, exit 3.
  std::vector<std::string> argv = {BinaryPath("vmaectl"), "--server", "127.0.0.1:1", "--token",
                                   kAlice, "list"};
  EXPECT_EQ(RunCommand(argv, &out, {"VMAE_SERVER=", "VMAE_TOKEN="}), kUnreachable);
  EXPECT_THAT(out, HasSubstr("127.0.0.1:1"));
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  // Bad token: exit 4.
  EXPECT_EQ(Ctl({"list"}, &out, "wrong-token-0123456789"), kAuth);
  EXPECT_THAT(out, HasSubstr("token"));
  // Unknown job: exit 5.
  EXPECT_EQ(Ctl({"get", "j-0123456789ab"}, &out), kNotFound);
  EXPECT_THAT(out, HasSubstr("j-0123456789ab"));
  // Another user's job: exit 4; a state that forbids it: exit 6.
  std::string id = SubmitOk();
  EXPECT_EQ(Ctl({"cancel", id}, &out, kBob), kAuth);
  EXPECT_EQ(Ctl({"resume", id}, &out), kPrecondition);
  // The health check needs no token.
  EXPECT_EQ(Ctl({"health"}, &out, ""), kOk) << out;
  EXPECT_THAT(out, HasSubstr("SERVING"));
  // Unknown verb: usage.
  EXPECT_EQ(Ctl({"frobnicate"}, &out), kUsage);
}

TEST_F(VmaectlTest, WatchFollowsAJobToSuccessAndDownloadVerifies) {
  std::string id = SubmitOk();
  FakeAgentOptions o;
  o.agent_id = "agent-cli";
  o.slots = 1;
  o.token = kJoin;
  FakeAgent agent(coordinator_->Channel(), o);
  ASSERT_TRUE(agent.Connect().ok());
  auto assign = agent.WaitAssignment(10000);
  ASSERT_TRUE(assign.has_value());
  std::string weights(1500000, 'w');
  std::thread trainer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (int step = 1; step <= 4; ++step) agent.SendStep(id, assign->attempt(), step, 1.0 / step, 4);
    agent.SendLogs(id, assign->attempt(), 0, {"epoch 0 done"});
    ASSERT_TRUE(agent.Upload(id, assign->attempt(), 4, {{"model.safetensors", weights}}).ok());
    agent.SendDone(id, assign->attempt(), 4);
  });
  std::string out;
  int rc = Ctl({"watch", id}, &out);
  trainer.join();
  EXPECT_EQ(rc, kOk) << out;
  EXPECT_THAT(out, HasSubstr("SUCCEEDED"));

  ASSERT_EQ(Ctl({"workers"}, &out), kOk);
  EXPECT_THAT(out, HasSubstr("agent-cli"));
  ASSERT_EQ(Ctl({"metrics", id, "loss", "-o", "json"}, &out), kOk) << out;
  EXPECT_THAT(out, HasSubstr("0.25"));
  ASSERT_EQ(Ctl({"logs", id, "--rank", "0"}, &out), kOk) << out;
  EXPECT_THAT(out, HasSubstr("epoch 0 done"));
  ASSERT_EQ(Ctl({"checkpoints", id}, &out), kOk) << out;
  EXPECT_THAT(out, HasSubstr(absl::StrCat(id, "-s4")));

  std::string dest = dir_.path() + "/download";
  ASSERT_EQ(Ctl({"download", id, "-o", dest}, &out), kOk) << out;
  EXPECT_EQ(ReadFileOrDie(dest + "/model.safetensors"), weights);
  EXPECT_FALSE(std::filesystem::exists(dest + "/model.safetensors.part"));
}

// TLS end to end: a self-signed certificate for 127.0.0.1, the coordinator
// listening beyond loopback (allowed only with TLS and both kinds of token),
// vmaectl trusting the certificate through --tls-ca.
TEST(VmaectlTlsTest, TalksOverTlsAndRefusesAnUntrustedServer) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(RunCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", dir.path() + "/key.pem", "-out", dir.path() + "/cert.pem"},
                       &out),
            0)
      << out;
  WriteFile(dir.path() + "/tokens", absl::StrCat(kAlice, " alice user\n"));
  CoordinatorConfig cfg;
  cfg.state_dir = dir.path();
  cfg.tokens_file = dir.path() + "/tokens";
  cfg.join_token = kJoin;
  cfg.extra = {"--listen=0.0.0.0:0", "--tls-cert=" + dir.path() + "/cert.pem",
               "--tls-key=" + dir.path() + "/key.pem"};
  CoordinatorProcess coordinator(cfg);
  std::string error;
  ASSERT_TRUE(coordinator.Start(&error)) << error;
  std::vector<std::string> base = {BinaryPath("vmaectl"), "--server", coordinator.address(),
                                   "--token", kAlice};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  };
  EXPECT_EQ(RunCommand(with({"--tls-ca", dir.path() + "/cert.pem", "list"}), &out,
                       {"VMAE_SERVER=", "VMAE_TOKEN="}),
            kOk)
      << out;
  // Without trusting the certificate (plaintext to a TLS port) nothing works.
  EXPECT_NE(RunCommand(with({"list"}), &out, {"VMAE_SERVER=", "VMAE_TOKEN="}), kOk);
}

}  // namespace
}  // namespace vmae::testing
