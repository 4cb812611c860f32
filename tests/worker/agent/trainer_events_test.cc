#include "worker/agent/trainer_events.h"

#include <signal.h>
#include <sys/wait.h>

#include <string>

#include "gtest/gtest.h"

namespace vmae::worker {
namespace {

// Wait statuses as waitpid reports them (Linux encoding).
int Exited(int code) { return (code & 0xff) << 8; }
int Signaled(int sig) { return sig & 0x7f; }

TEST(TrainerEventsTest, StatusEncodingMatchesWaitMacros) {
  EXPECT_TRUE(WIFEXITED(Exited(2)));
  EXPECT_EQ(WEXITSTATUS(Exited(2)), 2);
  EXPECT_TRUE(WIFSIGNALED(Signaled(SIGKILL)));
  EXPECT_EQ(WTERMSIG(Signaled(SIGKILL)), SIGKILL);
}

TEST(TrainerEventsTest, StepLineBecomesAFullStepReport) {
  TrainerEvent ev = ParseTrainerLine(
      R"({"event":"step","step":12,"total_steps":100,"samples_seen":384,"epoch":1,"loss":0.75,)"
      R"("lr":0.0015,"grad_norm":2.5,"clips_per_second":33.5,"data_seconds":0.01,)"
      R"("compute_seconds":0.2,"allreduce_seconds":0.03,"extra":{"restored_step":10,"bad":"x"},)"
      R"("data_errors":{"truncated":2,"missing":1}})",
      "j-1", 3);
  ASSERT_EQ(ev.kind, EventKind::kStep);
  const auto& r = ev.report;
  EXPECT_EQ(r.job_id(), "j-1");
  EXPECT_EQ(r.attempt(), 3);
  EXPECT_EQ(r.step(), 12);
  EXPECT_EQ(r.total_steps(), 100);
  EXPECT_EQ(r.samples_seen(), 384);
  EXPECT_EQ(r.epoch(), 1);
  EXPECT_DOUBLE_EQ(r.loss(), 0.75);
  EXPECT_DOUBLE_EQ(r.lr(), 0.0015);
  EXPECT_DOUBLE_EQ(r.grad_norm(), 2.5);
  EXPECT_DOUBLE_EQ(r.clips_per_second(), 33.5);
  EXPECT_DOUBLE_EQ(r.data_seconds(), 0.01);
  EXPECT_DOUBLE_EQ(r.compute_seconds(), 0.2);
  EXPECT_DOUBLE_EQ(r.allreduce_seconds(), 0.03);
  ASSERT_EQ(r.extra().size(), 1u);  // non-numbers are ignored
  EXPECT_DOUBLE_EQ(r.extra().at("restored_step"), 10);
  EXPECT_EQ(r.data_errors().at("truncated"), 2);
  EXPECT_EQ(r.data_errors().at("missing"), 1);
}

TEST(TrainerEventsTest, EvalLineCarriesValidationFiguresAsExtras) {
  TrainerEvent ev = ParseTrainerLine(
      R"({"event":"eval","step":50,"epoch":2,"val_top1":61.5,"val_top5":88.25,"val_loss":1.25})",
      "j-1", 1);
  ASSERT_EQ(ev.kind, EventKind::kEval);
  EXPECT_EQ(ev.report.step(), 50);
  EXPECT_EQ(ev.report.epoch(), 2);
  EXPECT_DOUBLE_EQ(ev.report.extra().at("val_top1"), 61.5);
  EXPECT_DOUBLE_EQ(ev.report.extra().at("val_top5"), 88.25);
  EXPECT_DOUBLE_EQ(ev.report.extra().at("val_loss"), 1.25);
  EXPECT_DOUBLE_EQ(ev.report.loss(), 0);
}

TEST(TrainerEventsTest, OtherEventsKeepTheirFields) {
  TrainerEvent c = ParseTrainerLine(
      R"({"event":"checkpoint","step":500,"samples_seen":16000,"dir":"/w/checkpoints/step-500",)"
      R"("reason":"pause","val_top1":0})",
      "j", 1);
  ASSERT_EQ(c.kind, EventKind::kCheckpoint);
  EXPECT_EQ(c.checkpoint.step, 500);
  EXPECT_EQ(c.checkpoint.samples_seen, 16000);
  EXPECT_EQ(c.checkpoint.dir, "/w/checkpoints/step-500");
  EXPECT_EQ(c.checkpoint.reason, "pause");

  TrainerEvent r = ParseTrainerLine(R"({"event":"rendezvous","port":29500})", "j", 1);
  ASSERT_EQ(r.kind, EventKind::kRendezvous);
  EXPECT_EQ(r.port, 29500);
  TrainerEvent d = ParseTrainerLine(R"({"event":"done","step":999})", "j", 1);
  ASSERT_EQ(d.kind, EventKind::kDone);
  EXPECT_EQ(d.step, 999);
  TrainerEvent s = ParseTrainerLine(R"({"event":"started","rank":0,"pid":4242})", "j", 1);
  ASSERT_EQ(s.kind, EventKind::kStarted);
  EXPECT_EQ(s.pid, 4242);
  TrainerEvent e = ParseTrainerLine(
      R"({"event":"error","kind":"user","message":"data.train: no such file"})", "j", 1);
  ASSERT_EQ(e.kind, EventKind::kError);
  EXPECT_EQ(e.error_kind, "user");
  EXPECT_EQ(e.error_message, "data.train: no such file");
  EXPECT_EQ(ParseTrainerLine(R"({"event":"stopped","step":7})", "j", 1).kind, EventKind::kStopped);
}

TEST(TrainerEventsTest, AnythingElseIsALogLine) {
  for (const char* line : {"epoch 1 done", "", "{", R"({"event":"step","step":)", "[1,2]",
                           R"({"no_event":1})", R"({"event":"mystery"})", R"({"event":7})",
                           R"({"event":"rendezvous","port":0})", "\xff\xfe{{"}) {
    TrainerEvent ev = ParseTrainerLine(line, "j", 1);
    EXPECT_EQ(ev.kind, EventKind::kLog) << line;
    EXPECT_EQ(ev.line, line);
  }
}

TEST(TrainerEventsTest, WrongTypesReadAsZero) {
  TrainerEvent ev = ParseTrainerLine(R"({"event":"step","step":"12","loss":null})", "j", 1);
  ASSERT_EQ(ev.kind, EventKind::kStep);
  EXPECT_EQ(ev.report.step(), 0);
  EXPECT_DOUBLE_EQ(ev.report.loss(), 0);
}

TEST(TrainerEventsTest, ExitTwoIsAUserError) {
  ExitSummary s = ClassifyExit(Exited(2), "", "", "fatal: bad config");
  EXPECT_EQ(s.exit_code, 2);
  EXPECT_EQ(s.kind, vmae::v1::FAILURE_KIND_USER);
  EXPECT_EQ(s.message, "fatal: bad config");
}

TEST(TrainerEventsTest, ErrorEventDecidesKindAndMessage) {
  ExitSummary s = ClassifyExit(Exited(1), "user", "loss is NaN", "Traceback ...");
  EXPECT_EQ(s.kind, vmae::v1::FAILURE_KIND_USER);
  EXPECT_EQ(s.message, "loss is NaN");
  ExitSummary t = ClassifyExit(Exited(2), "infra", "collective timed out", "");
  EXPECT_EQ(t.kind, vmae::v1::FAILURE_KIND_INFRASTRUCTURE);
}

TEST(TrainerEventsTest, SignalsAndOtherCodesAreInfrastructure) {
  ExitSummary k = ClassifyExit(Signaled(SIGKILL), "", "", "");
  EXPECT_EQ(k.exit_code, -SIGKILL);
  EXPECT_EQ(k.kind, vmae::v1::FAILURE_KIND_INFRASTRUCTURE);
  ExitSummary one = ClassifyExit(Exited(1), "", "", "std::bad_alloc");
  EXPECT_EQ(one.kind, vmae::v1::FAILURE_KIND_INFRASTRUCTURE);
  EXPECT_EQ(one.message, "std::bad_alloc");
  ExitSummary ok = ClassifyExit(Exited(0), "", "", "");
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.kind, vmae::v1::FAILURE_KIND_UNSPECIFIED);
}

}  // namespace
}  // namespace vmae::worker
