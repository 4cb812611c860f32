// Integration tests: the real vmae-coordinator binary on an ephemeral
// loopback port, driven over gRPC by test clients and a fake agent that
// speaks the real WorkerService.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/checkpoint/hf_export.h"
#include "common/checkpoint/hf_name_map.h"
#include "common/checkpoint/safetensors.h"
#include "common/sha256.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/fake_agent.h"
#include "tests/testing/job_yaml.h"
#include "vmae/v1/job_service.grpc.pb.h"

namespace vmae::testing {
namespace {

using ::testing::HasSubstr;
using vmae::v1::JobState;

constexpr char kAliceToken[] = "alice-token-0123456789";
constexpr char kBobToken[] = "bob-token-0123456789ab";
constexpr char kAdminToken[] = "admin-token-0123456789";
constexpr char kJoinToken[] = "join-token-0123456789ab";

// A valid small CPU job (tests/testing/job_yaml.h).
std::string JobYaml(const std::string& name, int workers = 2, int keep_last = 3,
                    int min_workers = -1) {
  SmallJob job;
  job.name = name;
  job.workers = workers;
  job.min_workers = min_workers;
  job.keep_last = keep_last;
  return SmallJobYaml(job);
}

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() + "/tokens",
              absl::StrCat("# token user role\n", kAliceToken, " alice user\n", kBobToken,
                           " bob user\n", kAdminToken, " root admin\n"));
    StartCoordinator();
  }

  void StartCoordinator(std::vector<std::string> extra = {"--lease-ms=1500",
                                                          "--heartbeat-ms=200"}) {
    CoordinatorConfig cfg;
    cfg.state_dir = dir_.path();
    cfg.tokens_file = dir_.path() + "/tokens";
    cfg.join_token = kJoinToken;
    cfg.extra = extra;
    coordinator_ = std::make_unique<CoordinatorProcess>(cfg);
    std::string error;
    ASSERT_TRUE(coordinator_->Start(&error)) << error;
    jobs_ = coordinator_->Jobs();
  }

  std::unique_ptr<FakeAgent> Agent(const std::string& id, int slots) {
    FakeAgentOptions o;
    o.agent_id = id;
    o.slots = slots;
    o.token = kJoinToken;
    auto a = std::make_unique<FakeAgent>(coordinator_->Channel(), o);
    EXPECT_TRUE(a->Connect().ok());
    return a;
  }

  grpc::Status Submit(const std::string& yaml, vmae::v1::Job* job,
                      const std::string& token = kAliceToken, const std::string& key = "") {
    vmae::v1::SubmitJobRequest req;
    req.set_spec_yaml(yaml);
    req.set_idempotency_key(key);
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    return jobs_->SubmitJob(&ctx, req, job);
  }

  vmae::v1::Job Get(const std::string& id) {
    vmae::v1::GetJobRequest req;
    req.set_job_id(id);
    vmae::v1::GetJobResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, kAliceToken);
    grpc::Status s = jobs_->GetJob(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.job();
  }

  // Polls until the job is in `state` (or the timeout passes).
  bool WaitState(const std::string& id, JobState state, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Get(id).state() == state) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  grpc::Status Call(const std::string& token, const std::string& job_id,
                    grpc::Status (vmae::v1::JobService::Stub::*fn)(grpc::ClientContext*,
                                                                   const vmae::v1::JobRef&,
                                                                   vmae::v1::Job*),
                    vmae::v1::Job* out) {
    vmae::v1::JobRef ref;
    ref.set_job_id(job_id);
    grpc::ClientContext ctx;
    Authorize(&ctx, token);
    return (jobs_.get()->*fn)(&ctx, ref, out);
  }

  vmae::v1::ListCheckpointsResponse Checkpoints(const std::string& job_id) {
    vmae::v1::JobRef ref;
    ref.set_job_id(job_id);
    vmae::v1::ListCheckpointsResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, kAliceToken);
    grpc::Status s = jobs_->ListCheckpoints(&ctx, ref, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // Downloads a job's latest checkpoint: file name -> bytes, and the
  // SHA-256 each file was announced with.
  struct Downloaded {
    grpc::Status status;
    std::map<std::string, std::string> files, digests;
  };
  Downloaded Download(const std::string& job_id, vmae::v1::CheckpointFormat format) {
    vmae::v1::DownloadCheckpointRequest req;
    req.set_job_id(job_id);
    req.set_format(format);
    grpc::ClientContext ctx;
    Authorize(&ctx, kAliceToken, 30);
    auto reader = jobs_->DownloadCheckpoint(&ctx, req);
    Downloaded d;
    std::string current;
    vmae::v1::DownloadChunk chunk;
    while (reader->Read(&chunk)) {
      if (chunk.has_file()) {
        current = chunk.file().name();
        d.digests[current] = chunk.file().sha256();
      } else {
        EXPECT_LE(chunk.data().size(), 1u << 20);
        d.files[current] += chunk.data();
      }
    }
    d.status = reader->Finish();
    return d;
  }

  std::vector<vmae::v1::JobEvent> Watch(const std::string& id, int64_t after, int max_events,
                                        bool logs = false, int timeout_s = 10) {
    vmae::v1::WatchJobRequest req;
    req.set_job_id(id);
    req.set_after_seq(after);
    req.set_include_logs(logs);
    grpc::ClientContext ctx;
    Authorize(&ctx, kAliceToken, timeout_s);
    auto reader = jobs_->WatchJob(&ctx, req);
    std::vector<vmae::v1::JobEvent> events;
    vmae::v1::JobEvent ev;
    while (static_cast<int>(events.size()) < max_events && reader->Read(&ev)) events.push_back(ev);
    ctx.TryCancel();
    reader->Finish();
    return events;
  }

  TempDir dir_;
  std::unique_ptr<CoordinatorProcess> coordinator_;
  std::unique_ptr<vmae::v1::JobService::Stub> jobs_;
};

TEST_F(CoordinatorTest, ServesHealthAndReflection) {
  auto health = grpc::health::v1::Health::NewStub(coordinator_->Channel());
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  Authorize(&ctx, "");
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(CoordinatorTest, RejectsMissingWrongAndAgentTokens) {
  vmae::v1::Job job;
  EXPECT_EQ(Submit(JobYaml("t"), &job, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(JobYaml("t"), &job, "not-a-token-at-all-xx").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit(JobYaml("t"), &job, kJoinToken).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // A user token on WorkerService is refused.
  FakeAgentOptions o;
  o.token = kAliceToken;
  FakeAgent impostor(coordinator_->Channel(), o);
  EXPECT_EQ(impostor.Connect().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(CoordinatorTest, OnlyOwnerOrAdminMayCancel) {
  vmae::v1::Job job, out;
  ASSERT_TRUE(Submit(JobYaml("mine"), &job).ok());
  EXPECT_EQ(job.owner(), "alice");
  grpc::Status s = Call(kBobToken, job.id(), &vmae::v1::JobService::Stub::CancelJob, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("alice"));
  ASSERT_TRUE(Call(kAdminToken, job.id(), &vmae::v1::JobService::Stub::CancelJob, &out).ok());
  EXPECT_EQ(out.state(), vmae::v1::JOB_STATE_CANCELLED);
}

TEST_F(CoordinatorTest, UnknownJobIsNotFound) {
  vmae::v1::Job out;
  grpc::Status s = Call(kAliceToken, "j-000000000000", &vmae::v1::JobService::Stub::PauseJob, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CoordinatorTest, InvalidSpecsAreRejectedAndNothingIsStored) {
  const std::vector<std::string> bad = {
      "kind: pretrain\nname: x\n  bad indent: [",
      JobYaml("x") + "modle: {}\n",
      absl::StrReplaceAll(JobYaml("x"), {{"depth: 2", "depth: two"}}),
      absl::StrReplaceAll(JobYaml("x"), {{"min_workers: 2", "min_workers: 3"}}),
      "",
  };
  for (const auto& yaml : bad) {
    vmae::v1::Job job;
    grpc::Status s = Submit(yaml, &job);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << yaml;
  }
  vmae::v1::ListJobsRequest req;
  vmae::v1::ListJobsResponse resp;
  grpc::ClientContext ctx;
  Authorize(&ctx, kAliceToken);
  ASSERT_TRUE(jobs_->ListJobs(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.jobs_size(), 0);
}

TEST_F(CoordinatorTest, OversizedRequestIsRefused) {
  vmae::v1::Job job;
  std::string huge = JobYaml("big") + "# " + std::string(9 << 20, 'x') + "\n";
  grpc::Status s = Submit(huge, &job);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(CoordinatorTest, MalformedMessagesAreRefusedWithoutHarm) {
  // Bytes that are not a SubmitJobRequest, sent through the generic API.
  grpc::GenericStub generic(coordinator_->Channel());
  grpc::ClientContext ctx;
  Authorize(&ctx, kAliceToken);
  const char garbage[] = "\xff\xff\xff\xff\x0f\x12\x99not a protobuf";
  grpc::Slice slice(garbage, sizeof(garbage) - 1);
  grpc::ByteBuffer request(&slice, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/vmae.v1.JobService/SubmitJob", grpc::StubOptions(), &request, &response,
                    [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      done = true;
                      cv.notify_one();
                    });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE);  // still serving
  // A Session whose first message is not a hello is refused.
  auto workers = coordinator_->Workers();
  grpc::ClientContext sctx;
  Authorize(&sctx, kJoinToken);
  auto stream = workers->Session(&sctx);
  vmae::v1::AgentMessage hb;
  hb.mutable_heartbeat();
  stream->Write(hb);
  stream->WritesDone();
  vmae::v1::CoordinatorMessage m;
  while (stream->Read(&m)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // And the coordinator still answers.
  vmae::v1::Job job;
  EXPECT_TRUE(Submit(JobYaml("after-garbage", 1), &job).ok());
}

TEST_F(CoordinatorTest, IdempotencyKeyReturnsTheSameJob) {
  vmae::v1::Job a, b, c;
  ASSERT_TRUE(Submit(JobYaml("idem"), &a, kAliceToken, "key-1").ok());
  ASSERT_TRUE(Submit(JobYaml("idem"), &b, kAliceToken, "key-1").ok());
  EXPECT_EQ(a.id(), b.id());
  // The key is per user.
  ASSERT_TRUE(Submit(JobYaml("idem"), &c, kBobToken, "key-1").ok());
  EXPECT_NE(a.id(), c.id());
}

TEST_F(CoordinatorTest, GangStartsOnlyWhenEnoughWorkersAndPacksRanks) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("gang", 3), &job).ok());
  auto small = Agent("agent-small", 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  vmae::v1::Job now = Get(job.id());
  EXPECT_EQ(now.state(), vmae::v1::JOB_STATE_QUEUED);
  EXPECT_THAT(now.queue_reason(), HasSubstr("3"));  // names the count it needs
  auto big = Agent("agent-big", 4);
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_RUNNING));
  now = Get(job.id());
  ASSERT_EQ(now.ranks_size(), 3);
  for (const auto& r : now.ranks()) EXPECT_EQ(r.agent_id(), "agent-big");  // packed on one node
  auto assign = big->WaitAssignment(5000);
  ASSERT_TRUE(assign.has_value());
  EXPECT_EQ(assign->world_size(), 3);
  EXPECT_EQ(assign->attempt(), 1);
  EXPECT_EQ(assign->rendezvous_prefix(), absl::StrCat(job.id(), "/1/"));
}

TEST_F(CoordinatorTest, RunsAJobThroughStepsCheckpointsAndSuccess) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("full", 2), &job).ok());
  auto agent = Agent("agent-a", 2);
  auto assign = agent->WaitAssignment(10000);
  ASSERT_TRUE(assign.has_value());
  const int attempt = assign->attempt();
  for (int step = 1; step <= 10; ++step) {
    ASSERT_TRUE(agent->SendStep(job.id(), attempt, step, 2.0 / step, 10));
  }
  ASSERT_TRUE(agent->SendLogs(job.id(), attempt, 1, {"hello from rank 1"}));
  std::string weights(3 << 20, '\0');
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>(i * 7);
  auto up = agent->Upload(job.id(), attempt, 10,
                          {{"model.safetensors", weights}, {"manifest.json", "{}"}});
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_TRUE(up->committed());
  ASSERT_TRUE(agent->SendDone(job.id(), attempt, 10));
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_SUCCEEDED));
  vmae::v1::Job done = Get(job.id());
  EXPECT_EQ(done.step(), 10);
  EXPECT_DOUBLE_EQ(done.loss(), 0.2);

  // Metrics series, step range inclusive.
  vmae::v1::GetMetricsRequest mreq;
  mreq.set_job_id(job.id());
  mreq.set_name("loss");
  mreq.set_start_step(3);
  mreq.set_end_step(5);
  vmae::v1::GetMetricsResponse mresp;
  grpc::ClientContext mctx;
  Authorize(&mctx, kAliceToken);
  ASSERT_TRUE(jobs_->GetMetrics(&mctx, mreq, &mresp).ok());
  ASSERT_EQ(mresp.points_size(), 3);
  EXPECT_DOUBLE_EQ(mresp.points(0).value(), 2.0 / 3);
  EXPECT_EQ(mresp.points(2).step(), 5);

  // Download: bytes and SHA-256 as uploaded.
  Downloaded d = Download(job.id(), vmae::v1::CHECKPOINT_FORMAT_NATIVE);
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  EXPECT_EQ(d.files["model.safetensors"], weights);
  EXPECT_EQ(d.digests["model.safetensors"], Sha256Hex(weights));
  EXPECT_EQ(d.files["manifest.json"], "{}");

  // Logs persisted per rank.
  vmae::v1::StreamLogsRequest lreq;
  lreq.set_job_id(job.id());
  lreq.set_rank(1);
  grpc::ClientContext lctx;
  Authorize(&lctx, kAliceToken);
  auto lines = jobs_->StreamLogs(&lctx, lreq);
  vmae::v1::LogLine line;
  std::vector<std::string> texts;
  while (lines->Read(&line)) texts.push_back(line.text());
  ASSERT_TRUE(lines->Finish().ok());
  EXPECT_THAT(texts, ::testing::ElementsAre("hello from rank 1"));
}

TEST_F(CoordinatorTest, WatchResumesFromSequenceWithoutLossOrDuplicates) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("watch", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto assign = agent->WaitAssignment(10000);
  ASSERT_TRUE(assign.has_value());
  for (int step = 1; step <= 6; ++step) agent->SendStep(job.id(), assign->attempt(), step, 1.0);
  agent->SendDone(job.id(), assign->attempt(), 6);
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_SUCCEEDED));

  // Full stream: snapshot, then every event in order, then the stream ends.
  auto all = Watch(job.id(), 0, 1000);
  ASSERT_GE(all.size(), 10u);
  EXPECT_TRUE(all[0].has_snapshot());
  std::vector<int64_t> seqs;
  for (size_t i = 1; i < all.size(); ++i) seqs.push_back(all[i].seq());
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], static_cast<int64_t>(i + 1));
  EXPECT_EQ(all.back().state().to(), vmae::v1::JOB_STATE_SUCCEEDED);

  // "Dropped" after 4 events: resuming after the last seq seen gives the rest.
  auto first = Watch(job.id(), 0, 5);
  int64_t last = first.back().seq();
  auto rest = Watch(job.id(), last, 1000);
  ASSERT_TRUE(rest[0].has_snapshot());
  EXPECT_EQ(rest[1].seq(), last + 1);
  EXPECT_EQ(rest.size() - 1 + 4, all.size() - 1);
}

TEST_F(CoordinatorTest, LostAgentRestartsTheJobFromItsLastCheckpoint) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("lease", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto assign = agent->WaitAssignment(10000);
  ASSERT_TRUE(assign.has_value());
  agent->SendStep(job.id(), 1, 5, 1.0);
  ASSERT_TRUE(agent->Upload(job.id(), 1, 5, {{"model.safetensors", "weights"}}).ok());
  agent->PauseHeartbeats(true);  // hangs: the lease (1.5 s) expires
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_RESTARTING, 8000));
  vmae::v1::Job restarting = Get(job.id());
  EXPECT_THAT(restarting.state_reason(), HasSubstr("lost"));
  EXPECT_EQ(restarting.restarts(), 1);
  agent->Disconnect();
  auto agent2 = Agent("agent-a", 1);  // comes back
  auto again = agent2->WaitAssignment(10000);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->attempt(), 2);
  EXPECT_EQ(again->resume_checkpoint(), absl::StrCat(job.id(), "-s5"));
  EXPECT_EQ(Get(job.id()).restored_step(), 5);
}

TEST_F(CoordinatorTest, UserErrorFailsAtOnceInfrastructureErrorRestarts) {
  vmae::v1::Job user_job, infra_job;
  ASSERT_TRUE(Submit(JobYaml("nan", 1), &user_job).ok());
  auto agent = Agent("agent-a", 1);
  auto a1 = agent->WaitAssignment(10000);
  ASSERT_TRUE(a1.has_value());
  agent->SendExit(user_job.id(), a1->attempt(), 0, 3, vmae::v1::FAILURE_KIND_USER,
                  "loss is NaN at step 12");
  ASSERT_TRUE(WaitState(user_job.id(), vmae::v1::JOB_STATE_FAILED));
  vmae::v1::Job failed = Get(user_job.id());
  EXPECT_EQ(failed.failure_kind(), vmae::v1::FAILURE_KIND_USER);
  EXPECT_THAT(failed.state_reason(), HasSubstr("loss is NaN at step 12"));
  EXPECT_EQ(failed.restarts(), 0);

  ASSERT_TRUE(Submit(JobYaml("oom", 1), &infra_job).ok());
  auto a2 = agent->WaitAssignment(10000);
  ASSERT_TRUE(a2.has_value());
  agent->SendExit(infra_job.id(), a2->attempt(), 0, -9);
  auto a3 = agent->WaitAssignment(10000);  // restarted, attempt + 1
  ASSERT_TRUE(a3.has_value());
  EXPECT_EQ(a3->job_id(), infra_job.id());
  EXPECT_EQ(a3->attempt(), a2->attempt() + 1);
  EXPECT_EQ(Get(infra_job.id()).restarts(), 1);
}

TEST_F(CoordinatorTest, MaxRestartsBoundsInfrastructureFailures) {
  vmae::v1::Job job;
  std::string yaml = JobYaml("flaky", 1) + "  max_restarts: 1\n";
  ASSERT_TRUE(Submit(yaml, &job).ok());
  auto agent = Agent("agent-a", 1);
  for (int i = 0; i < 2; ++i) {
    auto a = agent->WaitAssignment(10000);
    ASSERT_TRUE(a.has_value());
    agent->SendExit(job.id(), a->attempt(), 0, 137, vmae::v1::FAILURE_KIND_INFRASTRUCTURE,
                    "OOM-killed");
  }
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_FAILED));
  vmae::v1::Job failed = Get(job.id());
  EXPECT_EQ(failed.failure_kind(), vmae::v1::FAILURE_KIND_INFRASTRUCTURE);
  EXPECT_THAT(failed.state_reason(), HasSubstr("max_restarts 1"));
}

TEST_F(CoordinatorTest, PauseCheckpointsReleasesAndResumeContinues) {
  vmae::v1::Job job, out;
  ASSERT_TRUE(Submit(JobYaml("pause", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  agent->SendStep(job.id(), a->attempt(), 7, 1.0);
  ASSERT_TRUE(Call(kAliceToken, job.id(), &vmae::v1::JobService::Stub::PauseJob, &out).ok());
  EXPECT_EQ(out.state(), vmae::v1::JOB_STATE_PAUSING);
  auto stop = agent->WaitStop(5000);
  ASSERT_TRUE(stop.has_value());
  EXPECT_EQ(stop->reason(), vmae::v1::STOP_REASON_PAUSE);
  ASSERT_TRUE(agent->Upload(job.id(), a->attempt(), 7, {{"model.safetensors", "w7"}}).ok());
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_PAUSED));
  agent->StopRanks(job.id());
  // A paused job cannot be paused into another state, but can be resumed.
  ASSERT_TRUE(Call(kAliceToken, job.id(), &vmae::v1::JobService::Stub::ResumeJob, &out).ok());
  auto resumed = agent->WaitAssignment(10000);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->attempt(), a->attempt() + 1);
  EXPECT_EQ(resumed->resume_checkpoint(), absl::StrCat(job.id(), "-s7"));
  EXPECT_EQ(Get(job.id()).restarts(), 0);  // a pause is not a failure
  // Resuming a running job is refused with a reason.
  grpc::Status s = Call(kAliceToken, job.id(), &vmae::v1::JobService::Stub::ResumeJob, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(CoordinatorTest, CancelStopsRanksAndEndsCancelled) {
  vmae::v1::Job job, out;
  ASSERT_TRUE(Submit(JobYaml("cancel", 2), &job).ok());
  auto agent = Agent("agent-a", 2);
  ASSERT_TRUE(agent->WaitAssignment(10000).has_value());
  ASSERT_TRUE(Call(kAliceToken, job.id(), &vmae::v1::JobService::Stub::CancelJob, &out).ok());
  EXPECT_EQ(out.state(), vmae::v1::JOB_STATE_CANCELLING);
  auto stop = agent->WaitStop(5000);
  ASSERT_TRUE(stop.has_value());
  EXPECT_EQ(stop->reason(), vmae::v1::STOP_REASON_CANCEL);
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_CANCELLED));
  // The slots are free again: a new job starts.
  vmae::v1::Job next;
  ASSERT_TRUE(Submit(JobYaml("next", 2), &next).ok());
  ASSERT_TRUE(WaitState(next.id(), vmae::v1::JOB_STATE_RUNNING));
}

TEST_F(CoordinatorTest, KeepLastDeletesOldCheckpointFilesAndRows) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("gc", 1, /*keep_last=*/2), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  // Step 10 is the best evaluated one and must survive.
  std::map<int, double> top1 = {{5, 0.1}, {10, 0.9}, {15, 0.2}, {20, 0.3}, {25, 0.4}};
  for (auto [step, acc] : top1) {
    ASSERT_TRUE(
        agent->Upload(job.id(), a->attempt(), step, {{"model.safetensors", "w"}}, acc).ok());
  }
  vmae::v1::ListCheckpointsResponse resp = Checkpoints(job.id());
  std::vector<int64_t> steps;
  for (const auto& c : resp.checkpoints()) steps.push_back(c.step());
  EXPECT_THAT(steps, ::testing::ElementsAre(10, 20, 25));
  EXPECT_TRUE(resp.checkpoints(0).best());
  namespace fs = std::filesystem;
  std::string base = dir_.path() + "/state/checkpoints/" + job.id();
  EXPECT_FALSE(fs::exists(base + "/" + job.id() + "-s5"));
  EXPECT_FALSE(fs::exists(base + "/" + job.id() + "-s15"));
  EXPECT_TRUE(fs::exists(base + "/" + job.id() + "-s25/model.safetensors"));
}

TEST_F(CoordinatorTest, UploadIsInvisibleUntilCompleteAndResumes) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("upload", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  std::string data(2500000, 'q');
  auto partial =
      agent->Upload(job.id(), a->attempt(), 3, {{"model.safetensors", data}}, 0, 1 << 20);
  ASSERT_TRUE(partial.ok()) << partial.status();
  EXPECT_FALSE(partial->committed());
  EXPECT_EQ(Checkpoints(job.id()).checkpoints_size(), 0);
  auto rest = agent->Upload(job.id(), a->attempt(), 3, {{"model.safetensors", data}});
  ASSERT_TRUE(rest.ok()) << rest.status();
  EXPECT_TRUE(rest->committed());
  auto fetched = agent->Fetch(rest->checkpoint().id());
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ((*fetched)["model.safetensors"], data);
}

TEST_F(CoordinatorTest, KvStoreIsScopedByAttemptAndWaits) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("kv", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  auto* stub = agent->stub();
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    vmae::v1::KvSetRequest set;
    set.set_job_id(job.id());
    set.set_attempt(a->attempt());
    set.set_key("master");
    set.set_value("127.0.0.1:29500");
    vmae::v1::KvSetResponse r;
    grpc::ClientContext ctx;
    Authorize(&ctx, kJoinToken);
    EXPECT_TRUE(stub->KvSet(&ctx, set, &r).ok());
  });
  vmae::v1::KvGetRequest get;
  get.set_job_id(job.id());
  get.set_attempt(a->attempt());
  get.set_key("master");
  get.set_wait_ms(5000);
  vmae::v1::KvGetResponse got;
  grpc::ClientContext ctx;
  Authorize(&ctx, kJoinToken);
  ASSERT_TRUE(stub->KvGet(&ctx, get, &got).ok());
  EXPECT_EQ(got.value(), "127.0.0.1:29500");
  setter.join();
  get.set_attempt(a->attempt() + 1);  // another attempt sees nothing
  get.set_wait_ms(0);
  grpc::ClientContext ctx2;
  Authorize(&ctx2, kJoinToken);
  EXPECT_FALSE(stub->KvGet(&ctx2, get, &got).ok());
}

TEST_F(CoordinatorTest, RestartKeepsJobsAndReconcilesRunningOnes) {
  vmae::v1::Job running, queued;
  ASSERT_TRUE(Submit(JobYaml("survivor", 1), &running).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  agent->SendStep(running.id(), a->attempt(), 3, 1.0);
  ASSERT_TRUE(Submit(JobYaml("waiting", 1), &queued).ok());
  coordinator_->Kill();
  agent->Disconnect();
  StartCoordinator();
  // The agent comes back with its rank still running: the job stays RUNNING.
  FakeAgentOptions o;
  o.agent_id = "agent-a";
  o.slots = 1;
  o.token = kJoinToken;
  FakeAgent back(coordinator_->Channel(), o);
  ASSERT_TRUE(back.Connect().ok());
  vmae::v1::AgentMessage hb;
  auto* r = hb.mutable_heartbeat()->add_running();
  r->set_job_id(running.id());
  r->set_attempt(a->attempt());
  r->set_rank(0);
  for (int i = 0; i < 15; ++i) {
    back.Send(hb);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(Get(running.id()).state(), vmae::v1::JOB_STATE_RUNNING);
  EXPECT_EQ(Get(queued.id()).state(), vmae::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(Get(running.id()).attempt(), a->attempt());
}

TEST_F(CoordinatorTest, RunningJobWhoseAgentNeverReturnsIsRestartedAfterRestart) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("orphan", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  ASSERT_TRUE(agent->WaitAssignment(10000).has_value());
  coordinator_->Kill();
  agent->Disconnect();
  StartCoordinator();
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_RESTARTING, 8000));
  EXPECT_THAT(Get(job.id()).state_reason(), HasSubstr("coordinator restart"));
}

TEST_F(CoordinatorTest, KillDuringSubmitStormLosesNoAcknowledgedJob) {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::string> acked;  // key -> id
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto stub = coordinator_->Jobs();
      for (int i = 0; !stop; ++i) {
        std::string key = absl::StrCat("c", c, "-", i);
        vmae::v1::SubmitJobRequest req;
        req.set_spec_yaml(JobYaml(key, 1));
        req.set_idempotency_key(key);
        vmae::v1::Job job;
        grpc::ClientContext ctx;
        Authorize(&ctx, kAliceToken, 5);
        if (stub->SubmitJob(&ctx, req, &job).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acked[key] = job.id();
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  coordinator_->Kill();
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_GT(acked.size(), 5u);
  StartCoordinator();
  vmae::v1::ListJobsRequest req;
  req.set_page_size(1000);
  std::map<std::string, int> ids;
  std::string token;
  do {
    req.set_page_token(token);
    vmae::v1::ListJobsResponse resp;
    grpc::ClientContext ctx;
    Authorize(&ctx, kAliceToken);
    ASSERT_TRUE(jobs_->ListJobs(&ctx, req, &resp).ok());
    for (const auto& j : resp.jobs()) ++ids[j.name()];
    token = resp.next_page_token();
  } while (!token.empty());
  for (const auto& [key, id] : acked) {
    EXPECT_EQ(ids[key], 1) << key;  // present, once
  }
  // Retrying an acknowledged submission returns the same job, not a second.
  const auto& [key, id] = *acked.begin();
  vmae::v1::Job again;
  ASSERT_TRUE(Submit(JobYaml(key, 1), &again, kAliceToken, key).ok());
  EXPECT_EQ(again.id(), id);
}

TEST_F(CoordinatorTest, ExportsPrometheusMetrics) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("metrics", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  agent->SendStep(job.id(), a->attempt(), 1, 0.75);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  std::string body = HttpGet(coordinator_->metrics_port(), "/metrics");
  EXPECT_THAT(body, HasSubstr("vmae_jobs{state=\"RUNNING\"} 1"));
  EXPECT_THAT(body, HasSubstr(absl::StrCat("vmae_job_loss{job=\"", job.id(), "\"} 0.75")));
  EXPECT_THAT(body, HasSubstr("vmae_worker_info{"));
  EXPECT_THAT(body, HasSubstr("vmae_grpc_requests_total{"));
  EXPECT_THAT(body, HasSubstr("vmae_job_step_seconds_bucket{"));
  // FakeAgent::SendStep reports lr 1e-4 and gradient norm 1.
  EXPECT_THAT(body,
              HasSubstr(absl::StrCat("vmae_job_learning_rate{job=\"", job.id(), "\"} 0.0001")));
  EXPECT_THAT(body, HasSubstr(absl::StrCat("vmae_job_grad_norm{job=\"", job.id(), "\"} 1\n")));
  // SmallJobYaml checkpoints every 5 steps.
  EXPECT_THAT(body,
              HasSubstr(absl::StrCat("vmae_job_checkpoint_every_steps{job=\"", job.id(), "\"} 5")));
  // Per-job series go away when the job ends.
  agent->SendDone(job.id(), a->attempt(), 1);
  ASSERT_TRUE(WaitState(job.id(), vmae::v1::JOB_STATE_SUCCEEDED));
  body = HttpGet(coordinator_->metrics_port(), "/metrics");
  EXPECT_THAT(body, ::testing::Not(HasSubstr(absl::StrCat("vmae_job_loss{job=\"", job.id()))));
  EXPECT_THAT(
      body,
      ::testing::Not(HasSubstr(absl::StrCat("vmae_job_checkpoint_every_steps{job=\"", job.id()))));
}

TEST_F(CoordinatorTest, HigherPriorityJobPreemptsThroughCheckpointAndRequeue) {
  vmae::v1::Job low, high;
  ASSERT_TRUE(Submit(JobYaml("low", 1), &low).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->job_id(), low.id());
  ASSERT_TRUE(Submit(JobYaml("high", 1) + "  priority: 10\n", &high).ok());
  auto stop = agent->WaitStop(5000);
  ASSERT_TRUE(stop.has_value());
  EXPECT_EQ(stop->job_id(), low.id());
  EXPECT_EQ(stop->reason(), vmae::v1::STOP_REASON_PAUSE);
  EXPECT_EQ(Get(low.id()).state(), vmae::v1::JOB_STATE_PAUSING);
  ASSERT_TRUE(agent->Upload(low.id(), a->attempt(), 3, {{"model.safetensors", "w3"}}).ok());
  agent->StopRanks(low.id());
  auto b = agent->WaitAssignment(10000);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->job_id(), high.id());
  vmae::v1::Job requeued = Get(low.id());
  EXPECT_EQ(requeued.state(), vmae::v1::JOB_STATE_QUEUED);  // requeued, not paused
  EXPECT_EQ(requeued.restarts(), 0);                        // and not a failure
  // When the high-priority job ends, the low one resumes from its checkpoint.
  agent->SendDone(high.id(), b->attempt(), 1);
  auto c = agent->WaitAssignment(10000);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->job_id(), low.id());
  EXPECT_EQ(c->resume_checkpoint(), absl::StrCat(low.id(), "-s3"));
}

TEST_F(CoordinatorTest, InitFromIsResolvedAtSubmissionAndPinnedAgainstGc) {
  vmae::v1::Job pre, fine;
  ASSERT_TRUE(Submit(JobYaml("pre", 1, /*keep_last=*/1), &pre).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(agent->Upload(pre.id(), a->attempt(), 5, {{"model.safetensors", "w5"}}).ok());
  std::string finetune = absl::StrCat(R"(kind: finetune
name: fine
model: {arch: vit_small, num_classes: 4, num_frames: 4, image_size: 32}
finetune: {init_from: "job://)",
                                      pre.id(), R"(/latest"}
data: {root: /tmp, train: train.txt, val: val.txt}
resources: {device: cpu, workers: 1}
)");
  ASSERT_TRUE(Submit(finetune, &fine).ok());
  EXPECT_EQ(fine.resolved_init_checkpoint(), absl::StrCat(pre.id(), "-s5"));
  // Newer checkpoints with keep_last 1 would delete s5, but it is pinned.
  ASSERT_TRUE(agent->Upload(pre.id(), a->attempt(), 10, {{"model.safetensors", "w10"}}).ok());
  ASSERT_TRUE(agent->Upload(pre.id(), a->attempt(), 15, {{"model.safetensors", "w15"}}).ok());
  vmae::v1::ListCheckpointsResponse resp = Checkpoints(pre.id());
  std::vector<int64_t> steps;
  for (const auto& c : resp.checkpoints()) steps.push_back(c.step());
  EXPECT_THAT(steps, ::testing::ElementsAre(5, 15));
  EXPECT_TRUE(resp.checkpoints(0).pinned());
  // A reference to a job without checkpoints is refused at submission.
  vmae::v1::Job empty, bad;
  ASSERT_TRUE(Submit(JobYaml("empty", 1), &empty).ok());
  std::string dangling = absl::StrReplaceAll(finetune, {{pre.id(), empty.id()}});
  grpc::Status s = Submit(dangling, &bad);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("no checkpoint yet"));
}

TEST_F(CoordinatorTest, SigtermShutsDownCleanlyAndKeepsState) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("durable", 1), &job).ok());
  EXPECT_EQ(coordinator_->Stop(), 0);
  StartCoordinator();
  vmae::v1::Job back = Get(job.id());
  EXPECT_EQ(back.state(), vmae::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(back.name(), "durable");
}

TEST_F(CoordinatorTest, DownloadsAHuggingFaceExportOfANativeCheckpoint) {
  vmae::v1::Job job;
  ASSERT_TRUE(Submit(JobYaml("hf", 1), &job).ok());
  auto agent = Agent("agent-a", 1);
  auto a = agent->WaitAssignment(10000);
  ASSERT_TRUE(a.has_value());
  // A native pre-training checkpoint of JobYaml's model (64 wide, depth 2,
  // decoder 32 wide, depth 1), qkv row i filled with the value i.
  checkpoint::HfConfigInputs cfg;
  cfg.hidden_size = 64;
  cfg.depth = 2;
  cfg.heads = 2;
  cfg.decoder_hidden_size = 32;
  cfg.decoder_depth = 1;
  cfg.decoder_heads = 1;
  auto dims = checkpoint::DimsFromConfig(cfg);
  ASSERT_TRUE(dims.ok()) << dims.status();
  checkpoint::SafetensorsWriter writer;
  for (const auto& t : checkpoint::ExpectedTensors(*dims)) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    std::vector<float> v(static_cast<size_t>(n));
    int64_t cols = t.shape.size() == 2 ? t.shape[1] : 1;
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i / cols);
    writer.Add(t.native_name, "F32", t.shape,
               std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  }
  writer.Add("optimizer.exp_avg.mask_token", "F32", {1, 1, 32}, std::string(32 * 4, '\0'));
  writer.SetMetadata(checkpoint::kMetadataKindKey, "pretrain");
  std::string native_path = dir_.path() + "/native.safetensors";
  ASSERT_TRUE(writer.WriteAtomically(native_path).ok());
  ASSERT_TRUE(
      agent
          ->Upload(job.id(), a->attempt(), 2,
                   {{"model.safetensors", ReadFileOrDie(native_path)}, {"manifest.json", "{}"}})
          .ok());

  Downloaded d = Download(job.id(), vmae::v1::CHECKPOINT_FORMAT_HUGGINGFACE);
  ASSERT_TRUE(d.status.ok()) << d.status.error_message();
  auto& files = d.files;
  auto& digests = d.digests;
  ASSERT_EQ(files.count("config.json"), 1u);
  EXPECT_EQ(digests["model.safetensors"], Sha256Hex(files["model.safetensors"]));
  auto config = nlohmann::json::parse(files["config.json"]);
  EXPECT_EQ(config["hidden_size"], 64);
  EXPECT_EQ(config["num_hidden_layers"], 2);
  EXPECT_EQ(config["decoder_hidden_size"], 32);
  EXPECT_EQ(config["use_mean_pooling"], false);
  std::string hf_path = dir_.path() + "/hf.safetensors";
  WriteFile(hf_path, files["model.safetensors"]);
  auto hf = checkpoint::SafetensorsFile::Open(hf_path);
  ASSERT_TRUE(hf.ok()) << hf.status();
  // The key block is rows 64..127 of qkv: its first value is 64.
  const std::string key = "videomae.encoder.layer.1.attention.attention.key.weight";
  ASSERT_EQ(hf->tensors().count(key), 1u);
  EXPECT_EQ(hf->tensors().at(key).shape, (std::vector<int64_t>{64, 64}));
  auto bytes = hf->ReadBytes(key);
  ASSERT_TRUE(bytes.ok());
  float first;
  std::memcpy(&first, bytes->data(), sizeof(float));
  EXPECT_EQ(first, 64.0f);
  for (const auto& [name, info] : hf->tensors()) EXPECT_FALSE(absl::StartsWith(name, "optimizer."));
}

// Start-up failures: each leaves its input untouched and says why.
class CoordinatorStartupTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(CoordinatorStartupTest, CorruptDatabaseIsRefusedAndNotOverwritten) {
  std::filesystem::create_directories(dir_.path() + "/state");
  std::string garbage = "this is not a database, but it is somebody's file\n";
  WriteFile(dir_.path() + "/state/vmae.db", garbage);
  CoordinatorConfig cfg;
  cfg.state_dir = dir_.path();
  CoordinatorProcess c(cfg);
  std::string error;
  EXPECT_FALSE(c.Start(&error));
  EXPECT_THAT(error, HasSubstr("not a SQLite database"));
  EXPECT_EQ(ReadFileOrDie(dir_.path() + "/state/vmae.db"), garbage);
}

TEST_F(CoordinatorStartupTest, RefusesToListenBeyondLoopbackWithoutTlsAndTokens) {
  std::string out;
  int rc = RunCommand({BinaryPath("vmae-coordinator"), "--listen=0.0.0.0:0",
                       "--state-dir=" + dir_.path() + "/state"},
                      &out);
  EXPECT_NE(rc, 0);
  EXPECT_THAT(out, HasSubstr("refusing to listen on 0.0.0.0:0 without TLS and tokens"));
}

TEST_F(CoordinatorStartupTest, BadTokensFileNamesTheLine) {
  WriteFile(dir_.path() + "/tokens", "good-token-0123456789 alice user\nshort bob user\n");
  std::string out;
  int rc = RunCommand(
      {BinaryPath("vmae-coordinator"), "--listen=127.0.0.1:0",
       "--auth-tokens=" + dir_.path() + "/tokens", "--state-dir=" + dir_.path() + "/state"},
      &out);
  EXPECT_NE(rc, 0);
  EXPECT_THAT(out, HasSubstr("tokens:2"));
}

}  // namespace
}  // namespace vmae::testing
