#include "worker/agent/trainer_process.h"

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Output {
  std::vector<std::string> out, err;
};

int RunToEnd(TrainerProcess* p, Output* o) {
  return p->Run([&](absl::string_view l, bool) { o->out.emplace_back(l); },
                [&](absl::string_view l, bool) { o->err.emplace_back(l); }, nullptr);
}

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

TEST(TrainerProcessTest, RelaysBothStreamsAndTheExitCode) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"};
  auto p = TrainerProcess::Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status();
  Output got;
  int status = RunToEnd(p->get(), &got);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3);
  EXPECT_THAT(got.out, ElementsAre("out1", "out2"));
  EXPECT_THAT(got.err, ElementsAre("err1"));
}

TEST(TrainerProcessTest, SetsEnvironmentWorkingDirAndOwnProcessGroup) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "echo $OMP_NUM_THREADS; pwd; ps -o pgid= -p $$ | tr -d ' '; echo $$"};
  o.env = {{"OMP_NUM_THREADS", "3"}};
  o.cwd = "/tmp";
  auto p = TrainerProcess::Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status();
  Output got;
  RunToEnd(p->get(), &got);
  ASSERT_EQ(got.out.size(), 4u);
  EXPECT_EQ(got.out[0], "3");
  EXPECT_EQ(got.out[1], "/tmp");
  EXPECT_EQ(got.out[2], got.out[3]);  // process group id == its pid
}

TEST(TrainerProcessTest, MissingProgramIsAnErrorNotAProcess) {
  SpawnOptions o;
  o.argv = {"/no/such/trainer", "train"};
  auto p = TrainerProcess::Spawn(o);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("cannot start trainer '/no/such/trainer'"));
}

TEST(TrainerProcessTest, SigkillReachesTheWholeGroup) {
  SpawnOptions o;
  // A grandchild that would outlive a kill of the trainer alone.
  o.argv = {"/bin/sh", "-c", "sleep 60 & echo $!; wait"};
  auto p = TrainerProcess::Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status();
  pid_t grandchild = 0;
  std::thread killer;
  int status = (*p)->Run(
      [&](absl::string_view l, bool) {
        int v = 0;
        if (absl::SimpleAtoi(l, &v)) {
          grandchild = v;
          killer = std::thread([&] { (*p)->Signal(SIGKILL); });
        }
      },
      [](absl::string_view, bool) {}, nullptr);
  killer.join();
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  ASSERT_GT(grandchild, 0);
  // The grandchild was reparented; give init a moment to reap it.
  for (int i = 0; i < 100 && Alive(grandchild); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(Alive(grandchild));
  EXPECT_FALSE((*p)->Signal(SIGKILL));  // reaped: never signals a reused pid
}

TEST(TrainerProcessTest, SigtermIsDeliveredEvenWhenTheAgentBlocksIt) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done"};
  auto p = TrainerProcess::Spawn(o);
  ASSERT_TRUE(p.ok()) << p.status();
  Output got;
  std::thread t;
  int status = (*p)->Run(
      [&](absl::string_view l, bool) {
        got.out.emplace_back(l);
        if (l == "ready") t = std::thread([&] { (*p)->Signal(SIGTERM); });
      },
      [](absl::string_view, bool) {}, nullptr);
  t.join();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_THAT(got.out, ElementsAre("ready", "got-term"));
}

TEST(TrainerProcessTest, TickRunsWhileTheProcessIsQuiet) {
  SpawnOptions o;
  o.argv = {"/bin/sh", "-c", "sleep 0.6"};
  auto p = TrainerProcess::Spawn(o);
  ASSERT_TRUE(p.ok());
  int ticks = 0;
  (*p)->Run([](absl::string_view, bool) {}, [](absl::string_view, bool) {}, [&] { ++ticks; }, 100);
  EXPECT_GE(ticks, 3);
}

}  // namespace
}  // namespace vmae::worker
