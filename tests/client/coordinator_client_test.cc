// The client against an in-process fake coordinator: the WatchJob reconnect
// loop, verified downloads, SubmitJob retries, auth metadata, and the
// commands' exit codes and error lines end to end (RunVmaectl).
#include "client/coordinator_client.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/commands/commands.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_job_service.h"
#include "tests/client/test_util.h"

namespace vmae::client {
namespace {

using testing::FakeCoordinator;
using testing::FakeFile;
using testing::FakeJobService;
using testing::RunResult;

Tuning FastTuning() {
  Tuning t;
  t.reconnect_backoff = absl::Milliseconds(5);
  t.max_reconnect_backoff = absl::Milliseconds(20);
  t.submit_retry_backoff = absl::Milliseconds(5);
  t.max_failed_reconnects = 3;
  return t;
}

// Six events: RUNNING, three losses around a checkpoint, then `end`.
std::vector<v1::JobEvent> History(v1::JobState end = v1::JOB_STATE_SUCCEEDED) {
  return {FakeJobService::StateEvent(1, v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING),
          FakeJobService::LossEvent(2, 1, 0.9),
          FakeJobService::LossEvent(3, 2, 0.8),
          FakeJobService::CheckpointEvent(4, 2),
          FakeJobService::LossEvent(5, 3, 0.7),
          FakeJobService::StateEvent(6, v1::JOB_STATE_RUNNING, end,
                                     end == v1::JOB_STATE_FAILED ? "loss is NaN" : "done")};
}

std::string MakeTempDir() {
  std::string pattern = ::testing::TempDir() + "/vmaectl_test_XXXXXX";
  char* dir = ::mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr);
  return pattern;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Deterministic bytes (fixed seed, no RNG library).
std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 1664525u + 1013904223u;
    s[i] = static_cast<char>(seed >> 24);
  }
  return s;
}

class FakeCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(fake_.started()); }

  std::unique_ptr<CoordinatorClient> NewClient(const std::string& token = "") {
    ClientOptions options;
    options.server = fake_.address();
    options.token = token;
    options.timeout = absl::Seconds(10);
    options.retry_backoff = absl::Milliseconds(5);
    auto client = CoordinatorClient::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  RunResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", fake_.address()});
    return testing::Vmaectl(std::move(args), FastTuning());
  }

  FakeJobService& service() { return fake_.service(); }

  FakeCoordinator fake_;
};

using CoordinatorClientTest = FakeCoordinatorTest;
using VmaectlTest = FakeCoordinatorTest;

// ---- WatchJob reconnects ---------------------------------------------------

TEST_F(CoordinatorClientTest, WatchResumesAfterDropWithLastSeqAndDeliversEachEventOnce) {
  service().events = History();
  service().watch_drop_after = 3;
  auto client = NewClient();
  WatchLoopOptions options;
  options.job_id = "j-1";
  options.tuning = FastTuning();
  std::vector<int64_t> seqs;
  int snapshots = 0;
  int resyncs = 0;
  std::vector<absl::StatusCode> drops;
  WatchLoopCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& e) {
    if (e.has_snapshot()) {
      ++snapshots;
    } else {
      seqs.push_back(e.seq());
    }
  };
  callbacks.on_resync = [&](const v1::Job&) { ++resyncs; };
  callbacks.on_reconnect = [&](const absl::Status& why, absl::Duration) {
    drops.push_back(why.code());
  };

  auto result = RunWatchLoop(*client, options, callbacks);
  ASSERT_OK(result);
  EXPECT_EQ(result->final_state, v1::JOB_STATE_SUCCEEDED);
  EXPECT_EQ(result->reason, "done");
  EXPECT_EQ(result->last_seq, 6);
  EXPECT_EQ(result->reconnects, 1);
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(snapshots, 1);
  EXPECT_EQ(resyncs, 1);
  EXPECT_EQ(drops, std::vector<absl::StatusCode>{absl::StatusCode::kUnavailable});
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().watch_after_seqs, (std::vector<int64_t>{0, 3}));
}

TEST_F(CoordinatorClientTest, WatchResumesWhenTheStreamEndsEarlyAndDropsRepeats) {
  service().events = History();
  service().watch_drop_after = 3;
  service().drop_with_ok = true;
  service().resend_last_seen = true;  // the server repeats seq 3 after the reconnect.
  auto client = NewClient();
  WatchLoopOptions options;
  options.job_id = "j-1";
  options.tuning = FastTuning();
  std::vector<int64_t> seqs;
  WatchLoopCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& e) {
    if (!e.has_snapshot()) {
      seqs.push_back(e.seq());
    }
  };
  auto result = RunWatchLoop(*client, options, callbacks);
  ASSERT_OK(result);
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().watch_after_seqs, (std::vector<int64_t>{0, 3}));
}

TEST_F(CoordinatorClientTest, WatchOfAnEndedJobStopsWhenTheHistoryEnds) {
  service().job.set_state(v1::JOB_STATE_CANCELLED);
  service().job.set_state_reason("cancelled by alice");
  auto client = NewClient();
  WatchLoopOptions options;
  options.job_id = "j-1";
  options.tuning = FastTuning();
  auto result = RunWatchLoop(*client, options, {});
  ASSERT_OK(result);
  EXPECT_EQ(result->final_state, v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(result->reason, "cancelled by alice");
  EXPECT_EQ(result->reconnects, 0);
}

TEST_F(CoordinatorClientTest, WatchOfAnUnknownJobFailsWithNotFound) {
  auto client = NewClient();
  WatchLoopOptions options;
  options.job_id = "j-nope";
  options.tuning = FastTuning();
  auto result = RunWatchLoop(*client, options, {});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(VmaectlTest, WatchOnAPipePrintsJsonLinesAndExitsZeroOnSuccess) {
  service().events = History();
  service().watch_drop_after = 3;
  RunResult r = Run({"watch", "j-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 7u) << r.out;  // snapshot + 6 events.
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["snapshot"]["id"], "j-1");
  for (size_t i = 1; i < lines.size(); ++i) {
    auto event = nlohmann::json::parse(lines[i]);
    EXPECT_EQ(event["seq"], std::to_string(i)) << lines[i];
  }
  EXPECT_EQ(r.err, "connection lost, reconnecting...\n");
}

TEST_F(VmaectlTest, WatchOnATerminalDrawsABarAndPrintsStateChanges) {
  service().events = History();
  service().watch_drop_after = 3;
  std::ostringstream out;
  std::ostringstream err;
  Io io;
  io.out = &out;
  io.err = &err;
  io.out_is_tty = true;
  io.err_is_tty = true;
  int code = RunVmaectl({"vmaectl", "--server", fake_.address(), "watch", "j-1"},
                        testing::EmptyEnv(), io, FastTuning());
  EXPECT_EQ(code, 0) << err.str();
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("job j-1 (tiny): RUNNING\n", 0), 0u) << text;
  EXPECT_NE(text.find("QUEUED -> RUNNING (attempt 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("checkpoint j-1-s2 at step 2 (2.0 KiB)"), std::string::npos) << text;
  EXPECT_NE(text.find("RUNNING -> SUCCEEDED (attempt 1): done"), std::string::npos) << text;
  // The last drawn bar: 3 of 3 steps, loss 0.7; ETA is 0 s at the end.
  EXPECT_NE(text.find("\r[##############################] 3/3 100% loss 0.7 ETA 0s"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("job j-1 SUCCEEDED: done\n"), std::string::npos) << text;
  EXPECT_NE(err.str().find("connection lost, reconnecting...\n"), std::string::npos);
}

TEST_F(VmaectlTest, WatchExitsOneWhenTheJobFails) {
  service().events = History(v1::JOB_STATE_FAILED);
  service().job.set_failure_kind(v1::FAILURE_KIND_USER);
  RunResult r = Run({"watch", "j-1", "-o", "json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("job j-1 FAILED (user error): loss is NaN"), std::string::npos) << r.err;
}

// ---- Downloads -------------------------------------------------------------

TEST_F(CoordinatorClientTest, DownloadVerifiesAndRenamesEveryFile) {
  const std::string model = Bytes(3000, 1);
  const std::string manifest = R"({"step": 3})";
  service().files = {{"model.safetensors", model, -1}, {"manifest.json", manifest, -1}};
  auto client = NewClient();
  const std::string dir = MakeTempDir() + "/out";  // created by the download.
  v1::DownloadCheckpointRequest request;
  request.set_job_id("j-1");
  request.set_checkpoint("latest");
  int64_t last_done = 0;
  auto files = DownloadToDirectory(
      *client, request, dir, [&](const std::string&, int64_t done, int64_t) { last_done = done; });
  ASSERT_OK(files);
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].sha256, Sha256Hex(model));
  EXPECT_EQ((*files)[0].size, 3000);
  EXPECT_EQ(ListDir(dir), (std::vector<std::string>{"manifest.json", "model.safetensors"}));
  EXPECT_EQ(ReadFile(dir + "/model.safetensors"), model);
  EXPECT_EQ(ReadFile(dir + "/manifest.json"), manifest);
  EXPECT_EQ(last_done, static_cast<int64_t>(manifest.size()));
}

TEST_F(CoordinatorClientTest, DownloadRejectsACorruptedChunkAndLeavesNoFile) {
  // The first file arrives intact; the second has one flipped byte. Neither
  // may remain: a checkpoint is all or nothing.
  service().files = {{"manifest.json", R"({"step": 3})", -1},
                     {"model.safetensors", Bytes(3000, 2), 1}};
  auto client = NewClient();
  const std::string dir = MakeTempDir();
  v1::DownloadCheckpointRequest request;
  request.set_job_id("j-1");
  auto files = DownloadToDirectory(*client, request, dir, nullptr);
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(files.status().message().find("model.safetensors failed its SHA-256 check"),
            std::string::npos)
      << files.status();
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST_F(CoordinatorClientTest, DownloadRefusesFileNamesThatLeaveTheDirectory) {
  for (const char* name : {"../escape", "sub/file", ".."}) {
    service().files = {{name, "data", -1}};
    auto client = NewClient();
    const std::string parent = MakeTempDir();
    const std::string dir = parent + "/out";
    v1::DownloadCheckpointRequest request;
    request.set_job_id("j-1");
    auto files = DownloadToDirectory(*client, request, dir, nullptr);
    EXPECT_FALSE(files.ok()) << name;
    EXPECT_NE(files.status().message().find("unsafe file name"), std::string::npos)
        << files.status();
    // The directory it had to create is gone again, and nothing escaped it.
    EXPECT_TRUE(ListDir(parent).empty()) << name;
  }
}

TEST_F(VmaectlTest, DownloadCommandExitsOneOnCorruptionWithOneClearLine) {
  service().files = {{"model.safetensors", Bytes(2500, 3), 2}};
  const std::string dir = MakeTempDir();
  RunResult r = Run({"download", "j-1", "-o", dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("error: download of latest of job j-1 failed: file model.safetensors "
                       "failed its SHA-256 check"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST_F(VmaectlTest, DownloadCommandWritesFilesAndReportsThem) {
  service().files = {{"model.safetensors", Bytes(1500, 4), -1}};
  const std::string dir = MakeTempDir();
  RunResult r = Run({"download", "j-1", "j-1-s3", "--format", "hf", "-o", dir});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("wrote " + dir + "/model.safetensors (1.5 KiB, sha256 ", 0), 0u) << r.out;
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"model.safetensors"});
}

TEST_F(VmaectlTest, DownloadOfAnUnknownCheckpointExitsFive) {
  const std::string dir = MakeTempDir();
  RunResult r = Run({"download", "j-1", "j-1-s999", "-o", dir});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err,
            "error: checkpoint j-1-s999 not found; list checkpoints with 'vmaectl checkpoints "
            "j-1'\n");
}

// ---- Unary calls -------------------------------------------------------------

TEST_F(CoordinatorClientTest, SubmitRetriesUnavailableWithTheSameIdempotencyKey) {
  service().submit_failures = 2;
  auto client = NewClient();
  v1::SubmitJobRequest request;
  request.set_spec_yaml("kind: pretrain\n");
  request.set_idempotency_key(RandomIdempotencyKey());
  auto job = client->SubmitJob(request);
  ASSERT_OK(job);
  EXPECT_EQ(job->id(), "j-1");
  absl::MutexLock lock(&service().mu);
  ASSERT_EQ(service().submit_keys.size(), 3u);
  EXPECT_EQ(service().submit_keys[0], request.idempotency_key());
  EXPECT_EQ(service().submit_keys[1], request.idempotency_key());
  EXPECT_EQ(service().submit_keys[2], request.idempotency_key());
}

TEST_F(CoordinatorClientTest, SubmitGivesUpAfterThreeRetries) {
  service().submit_failures = 10;
  auto client = NewClient();
  v1::SubmitJobRequest request;
  request.set_idempotency_key("k");
  auto job = client->SubmitJob(request);
  EXPECT_EQ(job.status().code(), absl::StatusCode::kUnavailable);
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().submit_keys.size(), 4u);  // the call and 3 retries.
}

TEST_F(CoordinatorClientTest, IdempotencyKeysDifferPerInvocation) {
  std::string a = RandomIdempotencyKey();
  std::string b = RandomIdempotencyKey();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 8u + 32u);
  EXPECT_EQ(a.rfind("vmaectl-", 0), 0u);
}

TEST_F(CoordinatorClientTest, TokenTravelsAsBearerMetadata) {
  service().required_token = "s3cret";
  EXPECT_OK(NewClient("s3cret")->GetJob("j-1"));
  EXPECT_EQ(NewClient("wrong")->GetJob("j-1").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(NewClient()->GetJob("j-1").status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(VmaectlTest, RejectedTokenExitsFourAndSaysWhatToDo) {
  service().required_token = "s3cret";
  RunResult r = Run({"get", "j-1", "--token", "wrong"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.err,
            "error: the coordinator rejected the token (UNAUTHENTICATED); set --token or "
            "VMAE_TOKEN to a token from the coordinator's --auth-tokens file\n");
  RunResult ok = Run({"get", "j-1", "--token", "s3cret"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST_F(VmaectlTest, TokenFileIsRead) {
  service().required_token = "from-file";
  const std::string path = MakeTempDir() + "/token";
  std::ofstream(path) << "from-file\n";
  RunResult r = Run({"get", "j-1", "--token-file", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(VmaectlTest, UnknownJobExitsFiveWithAHint) {
  RunResult r = Run({"get", "j-nope"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "error: job j-nope not found; list jobs with 'vmaectl list --all'\n");
}

TEST_F(VmaectlTest, UnreachableCoordinatorExitsThree) {
  // Port 1 on loopback: nothing listens there, so the connection is refused.
  RunResult r = testing::Vmaectl({"--server", "127.0.0.1:1", "list"}, FastTuning());
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err,
            "error: cannot reach the coordinator at 127.0.0.1:1 (connection refused); is it "
            "running? set --server or VMAE_SERVER\n");
}

TEST_F(VmaectlTest, GetPrintsOneTableRow) {
  service().job.set_step(2);
  service().job.set_loss(0.8);
  RunResult r = Run({"get", "j-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], "ID    NAME   KIND       STATE     OWNER   STEP   LOSS   AGE");
  EXPECT_EQ(lines[1], "j-1   tiny   pretrain   RUNNING   alice   2/3    0.8    -");
}

TEST_F(VmaectlTest, GetAsYamlAndJsonShowsTheSameFields) {
  RunResult json = Run({"get", "j-1", "-o", "json"});
  RunResult yaml = Run({"get", "j-1", "-o", "yaml"});
  ASSERT_EQ(json.exit_code, 0);
  ASSERT_EQ(yaml.exit_code, 0);
  auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["id"], "j-1");
  const std::string yaml_text = "\n" + yaml.out;
  for (const auto& [key, value] : parsed.items()) {
    EXPECT_NE(yaml_text.find("\n" + key + ":"), std::string::npos) << key << " missing from:\n"
                                                                   << yaml.out;
  }
}

TEST_F(VmaectlTest, ListPagesThroughEveryJob) {
  for (int i = 0; i < 5; ++i) {
    v1::Job job;
    job.set_id("j-" + std::to_string(i));
    job.set_state(v1::JOB_STATE_RUNNING);
    service().list_jobs.push_back(job);
  }
  RunResult r = Run({"list", "--owner", "alice"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 6u) << r.out;
  absl::MutexLock lock(&service().mu);
  ASSERT_EQ(service().list_requests.size(), 3u);
  EXPECT_EQ(service().list_requests[0].owner(), "alice");
  EXPECT_EQ(service().list_requests[0].states_size(), 6);  // active states only.
  EXPECT_EQ(service().list_requests[2].page_token(), "4");
}

TEST_F(VmaectlTest, ListAllAsJsonIsOneArray) {
  v1::Job job;
  job.set_id("j-9");
  service().list_jobs = {job};
  RunResult r = Run({"list", "--all", "-o", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto parsed = nlohmann::json::parse(r.out);
  ASSERT_TRUE(parsed.is_array());
  EXPECT_EQ(parsed[0]["id"], "j-9");
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().list_requests[0].states_size(), 0);
}

TEST_F(VmaectlTest, CancelPrintsTheNewStateAndSendsTheReason) {
  RunResult r = Run({"cancel", "j-1", "--reason", "wrong lr"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job j-1 CANCELLING\n");
  absl::MutexLock lock(&service().mu);
  ASSERT_EQ(service().job_refs.size(), 1u);
  EXPECT_EQ(service().job_refs[0].reason(), "wrong lr");
}

TEST_F(VmaectlTest, PauseThatTheStateForbidsExitsSix) {
  RunResult r = Run({"pause", "j-1"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_EQ(r.err,
            "error: cannot pause job j-1: job j-1 is QUEUED; only a RUNNING job can be paused; "
            "see its state with 'vmaectl describe j-1'\n");
}

TEST_F(VmaectlTest, LogsReconnectByAfterSeqWithoutRepeats) {
  for (int i = 0; i < 4; ++i) {
    v1::LogLine line;
    line.set_rank(i % 2);
    line.set_seq(10 + i);
    line.set_text("line " + std::to_string(i));
    service().log_lines.push_back(line);
  }
  service().logs_drop_after = 2;
  RunResult r = Run({"logs", "j-1", "-f"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[rank 0] line 0\n[rank 1] line 1\n[rank 0] line 2\n[rank 1] line 3\n");
  EXPECT_EQ(r.err, "connection lost, reconnecting...\n");
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().logs_after_seqs, (std::vector<int64_t>{0, 11}));
}

TEST_F(VmaectlTest, LogsOfOneRankPrintJustTheText) {
  for (int i = 0; i < 4; ++i) {
    v1::LogLine line;
    line.set_rank(i % 2);
    line.set_seq(10 + i);
    line.set_text("line " + std::to_string(i));
    service().log_lines.push_back(line);
  }
  RunResult r = Run({"logs", "j-1", "--rank", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "line 1\nline 3\n");
}

TEST_F(VmaectlTest, CheckpointsTableShowsSizeFlagsAndShortDigest) {
  RunResult r = Run({"checkpoints", "j-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("ID       STEP   SIZE      BEST   PINNED   CREATED   SHA256", 0), 0u)
      << lines[0];
  EXPECT_NE(lines[1].find("j-1-s3   3      3.0 MiB   yes"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("0123456789ab"), std::string::npos);
  EXPECT_EQ(lines[1].find("0123456789abc"), std::string::npos);
}

TEST_F(VmaectlTest, WorkersTableSummarisesSlotsDevicesAndLabels) {
  RunResult r = Run({"workers"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("AGENT     NODE     STATE   SLOTS   DEVICES"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("agent-a   node-1   BUSY    1/2     2x NVIDIA H100 80GB HBM3   "
                       "gpu=h100,zone=b   j-1    -"),
            std::string::npos)
      << r.out;
}

TEST_F(VmaectlTest, DescribeShowsStateHistoryAndSpec) {
  RunResult r = Run({"describe", "j-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("State:          RUNNING\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("History (oldest first):"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("QUEUED   RUNNING   1         gang of 1 placed"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Spec:\n  Model:"), std::string::npos) << r.out;
}

TEST_F(VmaectlTest, DescribeOfAQueuedJobSaysWhatItWaitsFor) {
  service().job.set_state(v1::JOB_STATE_QUEUED);
  service().job.set_queue_reason("needs 8 free workers with gpu=h100; 2 free");
  RunResult r = Run({"describe", "j-1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Waiting:        needs 8 free workers with gpu=h100; 2 free\n"),
            std::string::npos)
      << r.out;
}

// ---- submit ------------------------------------------------------------------

constexpr char kValidSpec[] = R"(kind: pretrain
name: tiny-pretrain
model:
  arch: vit_small
data:
  root: /data/k400
  train: train.csv
optimizer:
  epochs: 1
  warmup_epochs: 0
  batch_size: 2
resources:
  workers: 1
  device: cpu
)";

std::string WriteSpec(const std::string& text) {
  const std::string path = MakeTempDir() + "/job.yaml";
  std::ofstream(path) << text;
  return path;
}

TEST_F(VmaectlTest, SubmitOfAnInvalidFileExitsTwoAndSendsNothing) {
  const std::string path = WriteSpec("kind: pretrain\nmodle: {}\n");
  RunResult r = Run({"submit", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(path + ":2:1: modle: unknown key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'model'?"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was sent"), std::string::npos) << r.err;
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().calls, 0);
}

TEST_F(VmaectlTest, SubmitOfAMissingFileExitsTwo) {
  RunResult r = Run({"submit", MakeTempDir() + "/absent.yaml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST_F(VmaectlTest, SubmitDryRunPrintsTheResolvedSpecAndSendsNothing) {
  const std::string path = WriteSpec(kValidSpec);
  RunResult r = Run({"submit", path, "--dry-run", "--set", "seed=7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("name: tiny-pretrain"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seed: 7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("embed_dim: 384"), std::string::npos) << r.out;  // vit_small preset.
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().calls, 0);
}

TEST_F(VmaectlTest, SubmitSendsTheFileOverridesKeyAndSource) {
  service().submit_failures = 1;
  const std::string path = WriteSpec(kValidSpec);
  RunResult r = Run({"submit", path, "--set", "seed=7", "--from", "job://j-0/j-0-s100"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "job j-1 submitted\n");
  absl::MutexLock lock(&service().mu);
  ASSERT_EQ(service().submit_requests.size(), 2u);  // one UNAVAILABLE, one retry.
  const v1::SubmitJobRequest& sent = service().submit_requests[1];
  EXPECT_EQ(sent.spec_yaml(), kValidSpec);
  EXPECT_EQ(sent.overrides_size(), 1);
  EXPECT_EQ(sent.overrides(0), "seed=7");
  EXPECT_EQ(sent.from(), "job://j-0/j-0-s100");
  EXPECT_FALSE(sent.idempotency_key().empty());
  EXPECT_EQ(service().submit_requests[0].idempotency_key(), sent.idempotency_key());
}

TEST_F(VmaectlTest, SubmitWithWatchFollowsTheNewJob) {
  service().events = History();
  const std::string path = WriteSpec(kValidSpec);
  RunResult r = Run({"submit", path, "--watch", "--idempotency-key", "mine"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("job j-1 submitted\n", 0), 0u) << r.out;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), 1u + 7u) << r.out;
  absl::MutexLock lock(&service().mu);
  EXPECT_EQ(service().submit_keys, std::vector<std::string>{"mine"});
}

}  // namespace
}  // namespace vmae::client
