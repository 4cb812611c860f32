#include "server/local_worker.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"

namespace vmae::server {
namespace {

using ::testing::ElementsAre;

TEST(LocalWorkerTest, TokensAreLongRandomHex) {
  auto a = GenerateJoinToken();
  auto b = GenerateJoinToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 64u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(LocalWorkerTest, TokenFileIsPrivate) {
  vmae::testing::TempDir dir;
  vmae::testing::WriteFile(dir.File("agent-join-token"), "old");
  chmod(dir.File("agent-join-token").c_str(), 0644);
  auto path = WriteJoinTokenFile(dir.path(), "tok-0123456789abcdef");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(vmae::testing::ReadFileOrDie(*path), "tok-0123456789abcdef\n");
  struct stat st;
  ASSERT_EQ(stat(path->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(LocalWorkerTest, ArgsOfferCpuSlotsAndPassTheTokenByFile) {
  LocalWorkerOptions o;
  o.slots = 3;
  o.coordinator = "127.0.0.1:7070";
  o.join_token = "secret-never-on-the-command-line";
  o.state_dir = "/var/vmae";
  o.extra_args = " --threads 2  --labels zone=a ";
  o.binary = "/opt/vmae-worker";
  EXPECT_THAT(LocalWorkerArgs(o, "/var/vmae/agent-join-token"),
              ElementsAre("/opt/vmae-worker", "--devices", "cpu:3", "--coordinator",
                          "127.0.0.1:7070", "--join-token-file", "/var/vmae/agent-join-token",
                          "--work-dir", "/var/vmae/agent", "--agent-id", "local", "--threads", "2",
                          "--labels", "zone=a"));
}

TEST(LocalWorkerTest, MissingBinaryIsRefusedWithAHint) {
  vmae::testing::TempDir dir;
  LocalWorkerOptions o;
  o.slots = 1;
  o.coordinator = "127.0.0.1:1";
  o.join_token = "0123456789abcdef";
  o.state_dir = dir.path();
  o.binary = dir.File("no-such-worker");
  auto w = LocalWorker::Start(o);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(std::string(w.status().message()), ::testing::HasSubstr("ninja vmae-worker"));
}

}  // namespace
}  // namespace vmae::server
