#include "worker/agent/agent_config.h"

#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/agent/devices.h"

namespace vmae::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class AgentConfigTest : public ::testing::Test {
 protected:
  AgentConfigTest() {
    env_.getenv = [this](const std::string& k) {
      auto it = vars_.find(k);
      return it == vars_.end() ? std::string() : it->second;
    };
    env_.read_file = [this](const std::string& path) -> absl::StatusOr<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return absl::NotFoundError("cannot read " + path);
      return it->second;
    };
    env_.hostname = "node-7";
    env_.self_dir = "/opt/vmae/bin";
    env_.cpu_cores = 16;
    env_.probe.gpu_count = [this] { return gpus_; };
    env_.probe.gpu_details = [] {
      return std::vector<GpuInfo>{{0, "GPU-aaa", "NVIDIA H100", 80LL << 30},
                                  {1, "GPU-bbb", "NVIDIA H100", 80LL << 30},
                                  {2, "GPU-ccc", "NVIDIA H100", 80LL << 30}};
    };
    env_.probe.cpu_name = [] { return std::string("Test CPU"); };
    env_.probe.total_memory_bytes = [] { return int64_t{8} << 30; };
  }

  absl::StatusOr<AgentConfig> Parse(std::vector<std::string> args) {
    return ParseAgentFlags(args, env_);
  }

  AgentEnvironment env_;
  std::map<std::string, std::string> vars_;
  std::map<std::string, std::string> files_;
  int gpus_ = 0;
};

TEST_F(AgentConfigTest, DefaultsComeFromHostnameAndEnvironment) {
  vars_["POD_NAME"] = "vmae-worker-abc";
  vars_["POD_IP"] = "10.1.2.3";
  vars_["VMAE_JOIN_TOKEN"] = "from-env";
  auto c = Parse({"--coordinator", "coord:7070"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->coordinator, "coord:7070");
  EXPECT_EQ(c->agent_id, "node-7");
  EXPECT_EQ(c->node, "node-7");
  EXPECT_EQ(c->pod, "vmae-worker-abc");
  EXPECT_EQ(c->address, "10.1.2.3");
  EXPECT_EQ(c->join_token, "from-env");
  EXPECT_EQ(c->work_dir, "./vmae-agent");
  EXPECT_THAT(c->trainer, ElementsAre("/opt/vmae/bin/vmae"));
  EXPECT_EQ(c->threads, 1);
  ASSERT_EQ(c->devices.size(), 1u);
  EXPECT_EQ(c->devices[0].kind(), "cpu");
}

TEST_F(AgentConfigTest, AcceptsDashesUnderscoresAndEqualsSigns) {
  files_["/run/token"] = "  s3cret-token \n";
  auto c = Parse({"--coordinator=127.0.0.1:1", "--join_token_file", "/run/token", "--agent-id=a-1",
                  "--work_dir", "/w", "--trainer", "/usr/bin/python3  fake.py", "--threads=4",
                  "--collective-timeout-s", "30", "--labels", "gpu=h100, zone=a",
                  "--health-file=/tmp/h", "--data-root", "/data", "--address", "10.0.0.9"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->join_token, "s3cret-token");
  EXPECT_EQ(c->agent_id, "a-1");
  EXPECT_EQ(c->work_dir, "/w");
  EXPECT_THAT(c->trainer, ElementsAre("/usr/bin/python3", "fake.py"));
  EXPECT_EQ(c->threads, 4);
  EXPECT_EQ(c->collective_timeout_s, 30);
  EXPECT_EQ(c->labels, (std::map<std::string, std::string>{{"gpu", "h100"}, {"zone", "a"}}));
  EXPECT_EQ(c->health_file, "/tmp/h");
  EXPECT_EQ(c->data_root, "/data");
  EXPECT_EQ(c->address, "10.0.0.9");
}

TEST_F(AgentConfigTest, TrainerFallsBackToEnvironment) {
  vars_["VMAE_TRAINER"] = "/usr/bin/python3 /x/fake_trainer.py";
  auto c = Parse({"--coordinator", "c:1"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->trainer, ElementsAre("/usr/bin/python3", "/x/fake_trainer.py"));
}

TEST_F(AgentConfigTest, RejectsMistakesWithTheFlagName) {
  EXPECT_THAT(Parse({}).status().message(), HasSubstr("--coordinator is required"));
  EXPECT_THAT(Parse({"--coordinator", "c:1", "--bogus", "1"}).status().message(),
              HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(Parse({"--coordinator", "c:1", "--threads", "zero"}).status().message(),
              HasSubstr("--threads"));
  EXPECT_THAT(Parse({"--coordinator", "c:1", "--labels", "novalue"}).status().message(),
              HasSubstr("key=value"));
  EXPECT_THAT(Parse({"--coordinator", "c:1", "--agent-id", "a/b"}).status().message(),
              HasSubstr("--agent-id"));
  EXPECT_THAT(Parse({"--coordinator", "c:1", "--join-token-file", "/missing"}).status().message(),
              HasSubstr("--join-token-file"));
  EXPECT_THAT(Parse({"--coordinator"}).status().message(), HasSubstr("needs a value"));
  EXPECT_THAT(Parse({"stray"}).status().message(), HasSubstr("unexpected argument"));
}

TEST_F(AgentConfigTest, HelpAndHealthModesNeedNoCoordinator) {
  auto h = Parse({"--help"});
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->help);
  auto c = Parse({"--check-health", "/tmp/h", "--max-age-s", "12"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->check_health, "/tmp/h");
  EXPECT_EQ(c->max_age_s, 12);
}

TEST_F(AgentConfigTest, UsageDocumentsEveryFlag) {
  for (const char* flag : {"--coordinator", "--join-token", "--join-token-file", "--tls-ca",
                           "--devices", "--labels", "--agent-id", "--node", "--pod", "--address",
                           "--work-dir", "--trainer", "--data-root", "--threads",
                           "--collective-timeout-s", "--health-file", "--check-health",
                           "--max-age-s"}) {
    EXPECT_THAT(std::string(kAgentUsage), HasSubstr(flag));
  }
}

TEST_F(AgentConfigTest, CpuDevicesShareMemoryAndAreSlotsInOrder) {
  std::vector<int> physical;
  auto d = ParseDevices("cpu:4", env_.probe, &physical);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*d)[i].kind(), "cpu");
    EXPECT_EQ((*d)[i].index(), i);
    EXPECT_EQ((*d)[i].name(), "Test CPU");
    EXPECT_EQ((*d)[i].memory_bytes(), int64_t{2} << 30);
    EXPECT_TRUE((*d)[i].uuid().empty());
  }
  EXPECT_THAT(physical, ElementsAre(0, 1, 2, 3));
}

TEST_F(AgentConfigTest, CudaAllCountsGpusAndFillsTheirDetails) {
  gpus_ = 2;
  std::vector<int> physical;
  auto d = ParseDevices("cuda:all", env_.probe, &physical);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[1].kind(), "cuda");
  EXPECT_EQ((*d)[1].index(), 1);
  EXPECT_EQ((*d)[1].uuid(), "GPU-bbb");
  EXPECT_EQ((*d)[1].name(), "NVIDIA H100");
  EXPECT_EQ((*d)[1].memory_bytes(), 80LL << 30);
  gpus_ = 0;
  EXPECT_THAT(ParseDevices("cuda:all", env_.probe, &physical).status().message(),
              HasSubstr("found no GPU"));
}

TEST_F(AgentConfigTest, CudaListMapsSlotsToPhysicalGpus) {
  std::vector<int> physical;
  auto d = ParseDevices("cuda:2,1", env_.probe, &physical);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].index(), 0);
  EXPECT_EQ((*d)[0].uuid(), "GPU-ccc");
  EXPECT_EQ((*d)[1].uuid(), "GPU-bbb");
  EXPECT_THAT(physical, ElementsAre(2, 1));
}

TEST_F(AgentConfigTest, BadDeviceSpecsAreRefused) {
  std::vector<int> physical;
  for (const char* bad : {"cpu", "cpu:0", "cpu:x", "tpu:1", "cuda:1,1", "cuda:-1", "cuda:", ""}) {
    EXPECT_FALSE(ParseDevices(bad, env_.probe, &physical).ok()) << bad;
  }
}

TEST_F(AgentConfigTest, CudaThreadsDefaultToCoresPerGpu) {
  gpus_ = 4;
  auto c = Parse({"--coordinator", "c:1", "--devices", "cuda:all"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->threads, 4);  // 16 cores / 4 GPUs
}

}  // namespace
}  // namespace vmae::worker
