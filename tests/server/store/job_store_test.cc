#include "server/store/job_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/store/store_test_util.h"
#include "vmae/v1/types.pb.h"

namespace vmae::server {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::vmae::server::testing::RawExec;
using ::vmae::server::testing::ReadFileBytes;
using ::vmae::server::testing::StatusIs;
using ::vmae::server::testing::TempDir;
using ::vmae::server::testing::WriteFileBytes;
using ::vmae::v1::CheckpointInfo;
using ::vmae::v1::Job;
using ::vmae::v1::JobEvent;
using ::vmae::v1::JobState;
using ::vmae::v1::LogLine;
using ::vmae::v1::MetricPoint;

void SetMs(int64_t ms, google::protobuf::Timestamp* time) {
  time->set_seconds(ms / 1000);
  time->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

Job MakeJob(const std::string& id, const std::string& owner = "alice", int64_t create_ms = 1000) {
  Job job;
  job.set_id(id);
  job.set_owner(owner);
  job.set_name("name-" + id);
  job.set_state(vmae::v1::JOB_STATE_QUEUED);
  SetMs(create_ms, job.mutable_create_time());
  job.mutable_spec()->set_name("name-" + id);
  return job;
}

JobEvent StateEvent(const std::string& job_id, int64_t seq, JobState from, JobState to,
                    int attempt = 0) {
  JobEvent event;
  event.set_seq(seq);
  event.set_job_id(job_id);
  SetMs(5000 + seq, event.mutable_time());
  event.mutable_state()->set_from(from);
  event.mutable_state()->set_to(to);
  event.mutable_state()->set_attempt(attempt);
  event.mutable_state()->set_reason("because " + std::to_string(seq));
  return event;
}

JobEvent CreatedEvent(const std::string& job_id) {
  return StateEvent(job_id, 1, vmae::v1::JOB_STATE_UNSPECIFIED, vmae::v1::JOB_STATE_QUEUED);
}

JobEvent LogEvent(const std::string& job_id, int64_t seq, int rank, int attempt,
                  const std::string& text) {
  JobEvent event;
  event.set_seq(seq);
  event.set_job_id(job_id);
  SetMs(5000 + seq, event.mutable_time());
  LogLine* line = event.mutable_log();
  line->set_rank(rank);
  line->set_attempt(attempt);
  line->set_text(text);
  return event;
}

JobEvent MetricEvent(const std::string& job_id, int64_t seq, int64_t step, double loss) {
  JobEvent event;
  event.set_seq(seq);
  event.set_job_id(job_id);
  SetMs(5000 + seq, event.mutable_time());
  MetricPoint* point = event.mutable_metric();
  point->set_name("loss");
  point->set_step(step);
  point->set_value(loss);
  return event;
}

MetricPoint Point(const std::string& name, int64_t step, double value) {
  MetricPoint point;
  point.set_name(name);
  point.set_step(step);
  point.set_value(value);
  SetMs(1700000000000 + step, point.mutable_time());
  return point;
}

std::unique_ptr<JobStore> OpenStore(const std::string& path) {
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  EXPECT_OK(store);
  return store.ok() ? std::move(*store) : nullptr;
}

// Inserts a job with its "created" event (seq 1).
void Insert(JobStore& store, const Job& job, const std::string& key = "") {
  std::string existing;
  ASSERT_OK(store.InsertJob(job, key, CreatedEvent(job.id()), &existing));
  ASSERT_EQ(existing, "");
}

std::vector<int64_t> Seqs(const absl::StatusOr<std::vector<JobEvent>>& events) {
  std::vector<int64_t> seqs;
  if (events.ok()) {
    for (const JobEvent& event : *events) {
      seqs.push_back(event.seq());
    }
  }
  return seqs;
}

std::vector<int64_t> Steps(const absl::StatusOr<std::vector<MetricPoint>>& points) {
  std::vector<int64_t> steps;
  if (points.ok()) {
    for (const MetricPoint& point : *points) {
      steps.push_back(point.step());
    }
  }
  return steps;
}

std::vector<std::string> Texts(const absl::StatusOr<std::vector<LogLine>>& lines) {
  std::vector<std::string> texts;
  if (lines.ok()) {
    for (const LogLine& line : *lines) {
      texts.push_back(line.text());
    }
  }
  return texts;
}

std::vector<std::string> Ids(const absl::StatusOr<std::vector<CheckpointRecord>>& records) {
  std::vector<std::string> ids;
  if (records.ok()) {
    for (const CheckpointRecord& record : *records) {
      ids.push_back(record.info.id());
    }
  }
  return ids;
}

// ---- Opening ------------------------------------------------------------------

TEST(JobStoreTest, FreshOpenCreatesSchemaVersionOne) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), 1);
  absl::StatusOr<std::vector<Job>> jobs = store->LoadJobs();
  ASSERT_OK(jobs);
  EXPECT_THAT(*jobs, IsEmpty());
  EXPECT_EQ(*store->LastEventSeq("j-none"), 0);
}

TEST(JobStoreTest, ReopenKeepsData) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  Job job = MakeJob("j-000000000001");
  job.mutable_spec()->mutable_model()->set_depth(12);
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    Insert(*store, job, "key-1");
  }
  std::unique_ptr<JobStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), 1);
  absl::StatusOr<std::vector<Job>> jobs = store->LoadJobs();
  ASSERT_OK(jobs);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].SerializeAsString(), job.SerializeAsString());
  EXPECT_EQ(*store->FindByIdempotencyKey("alice", "key-1"), "j-000000000001");
  EXPECT_THAT(Seqs(store->ReadEvents(job.id(), 0, 0, true)), ElementsAre(1));
}

TEST(JobStoreTest, GarbageFileIsDataLossAndLeftUnchanged) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  std::string bytes(10000, '\0');
  uint32_t x = 12345;
  for (char& c : bytes) {
    x = x * 1103515245u + 12345u;  // fixed-seed LCG: random-looking bytes
    c = static_cast<char>(x >> 24);
  }
  WriteFileBytes(path, bytes);
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("not a SQLite database"));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_EQ(ReadFileBytes(path), bytes);
}

TEST(JobStoreTest, OtherAppsSqliteDatabaseIsFailedPreconditionAndLeftUnchanged) {
  TempDir dir;
  const std::string path = dir.File("other.db");
  RawExec(path, "CREATE TABLE foo (id INTEGER PRIMARY KEY, v TEXT);"
                "INSERT INTO foo (v) VALUES ('keep me')");
  ASSERT_FALSE(HasFatalFailure());
  const std::string before = ReadFileBytes(path);
  ASSERT_FALSE(before.empty());
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr("not a vmae"));
  EXPECT_EQ(ReadFileBytes(path), before);
}

TEST(JobStoreTest, NewerSchemaVersionIsFailedPrecondition) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
  }
  RawExec(path, "PRAGMA user_version = 2");
  ASSERT_FALSE(HasFatalFailure());
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()),
              HasSubstr("written by a newer vmae (schema 2 > 1); upgrade vmae-coordinator"));
}

TEST(JobStoreTest, UnreadableFileIsFailedPrecondition) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root reads files whatever their mode";
  }
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
  }
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(path);
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(path));
  // Read-only (0444): refused up front, not at the first commit.
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  EXPECT_THAT(JobStore::Open(path), StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_OK(JobStore::Open(path));
}

TEST(JobStoreTest, DirectoryPathIsFailedPrecondition) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<JobStore>> store = JobStore::Open(dir.path());
  EXPECT_THAT(store, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(store.status().message()), HasSubstr(dir.path()));
}

TEST(JobStoreTest, CorruptPagesAreDataLoss) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 50; ++i) {
      Insert(*store, MakeJob("j-" + std::to_string(1000 + i)));
    }
  }  // The last close checkpoints the WAL into the main file.
  std::string bytes = ReadFileBytes(path);
  ASSERT_GT(bytes.size(), 3u * 4096u);
  for (size_t i = 4096; i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(0xA5 ^ (i & 0xff));
  }
  WriteFileBytes(path, bytes);
  EXPECT_THAT(JobStore::Open(path), StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_EQ(ReadFileBytes(path), bytes);
}

// ---- Jobs -----------------------------------------------------------------------

TEST(JobStoreTest, IdempotencyKeyReturnsExistingIdAndWritesNothing) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a"), "submit-1");
  std::string existing;
  ASSERT_OK(store->InsertJob(MakeJob("j-b"), "submit-1", CreatedEvent("j-b"), &existing));
  EXPECT_EQ(existing, "j-a");
  absl::StatusOr<std::vector<Job>> jobs = store->LoadJobs();
  ASSERT_OK(jobs);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id(), "j-a");
  EXPECT_EQ(*store->LastEventSeq("j-b"), 0);
  EXPECT_EQ(*store->FindByIdempotencyKey("alice", "submit-1"), "j-a");
  EXPECT_EQ(*store->FindByIdempotencyKey("alice", "submit-2"), "");
  EXPECT_EQ(*store->FindByIdempotencyKey("alice", ""), "");
  // A null existing_id is allowed.
  EXPECT_OK(store->InsertJob(MakeJob("j-c"), "submit-1", CreatedEvent("j-c"), nullptr));
  EXPECT_EQ(store->LoadJobs()->size(), 1u);
}

TEST(JobStoreTest, IdempotencyKeyIsUniquePerOwnerOnly) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a", "alice"), "same-key");
  Insert(*store, MakeJob("j-b", "bob"), "same-key");
  // No key: never deduplicated.
  Insert(*store, MakeJob("j-c", "alice"), "");
  Insert(*store, MakeJob("j-d", "alice"), "");
  EXPECT_EQ(*store->FindByIdempotencyKey("alice", "same-key"), "j-a");
  EXPECT_EQ(*store->FindByIdempotencyKey("bob", "same-key"), "j-b");
  EXPECT_EQ(store->LoadJobs()->size(), 4u);
}

TEST(JobStoreTest, DuplicateJobIdIsAlreadyExists) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a"));
  std::string existing;
  EXPECT_THAT(store->InsertJob(MakeJob("j-a"), "", CreatedEvent("j-a"), &existing),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST(JobStoreTest, CommitJobSurvivesReopen) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  Job job = MakeJob("j-a");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    Insert(*store, job, "submit-1");
    job.set_state(vmae::v1::JOB_STATE_RUNNING);
    job.set_attempt(1);
    ASSERT_OK(store->CommitJob(
        job, {StateEvent("j-a", 2, vmae::v1::JOB_STATE_QUEUED, vmae::v1::JOB_STATE_RUNNING, 1)}));
  }
  std::unique_ptr<JobStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<Job>> jobs = store->LoadJobs();
  ASSERT_OK(jobs);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].state(), vmae::v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*jobs)[0].attempt(), 1);
  absl::StatusOr<std::vector<JobEvent>> events = store->ReadEvents("j-a", 0, 0, true);
  EXPECT_THAT(Seqs(events), ElementsAre(1, 2));
  EXPECT_EQ((*events)[1].state().to(), vmae::v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*events)[1].state().reason(), "because 2");
  // State updates keep the idempotency key of the insert.
  EXPECT_EQ(*store->FindByIdempotencyKey("alice", "submit-1"), "j-a");
}

TEST(JobStoreTest, LoadJobsIsOldestFirstAndSeesBufferedProgress) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-c", "alice", 3000));
  Insert(*store, MakeJob("j-a", "alice", 1000));
  Insert(*store, MakeJob("j-b", "alice", 2000));
  Job progress = MakeJob("j-b", "alice", 2000);
  progress.set_step(42);
  store->BufferJob(progress);
  absl::StatusOr<std::vector<Job>> jobs = store->LoadJobs();
  ASSERT_OK(jobs);
  ASSERT_EQ(jobs->size(), 3u);
  EXPECT_EQ((*jobs)[0].id(), "j-a");
  EXPECT_EQ((*jobs)[1].id(), "j-b");
  EXPECT_EQ((*jobs)[1].step(), 42);
  EXPECT_EQ((*jobs)[2].id(), "j-c");
}

// ---- Buffer and events ------------------------------------------------------------

TEST(JobStoreTest, BufferedEventsAreReadableBeforeFlushAndPersistedAfter) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    Insert(*store, MakeJob("j-a"));
    store->BufferEvent(MetricEvent("j-a", 2, 10, 0.9));
    store->BufferEvent(LogEvent("j-a", 3, 0, 1, "hello"));
    EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2, 3));
    EXPECT_EQ(*store->LastEventSeq("j-a"), 3);
    absl::StatusOr<int> rows = store->Flush();
    ASSERT_OK(rows);
    EXPECT_EQ(*rows, 2);
    EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2, 3));
  }
  std::unique_ptr<JobStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<std::vector<JobEvent>> events = store->ReadEvents("j-a", 0, 0, true);
  EXPECT_THAT(Seqs(events), ElementsAre(1, 2, 3));
  EXPECT_EQ((*events)[1].metric().step(), 10);
  EXPECT_EQ((*events)[2].log().text(), "hello");
  EXPECT_EQ(*store->LastEventSeq("j-a"), 3);
}

TEST(JobStoreTest, FlushCountsRowsAndKeepsOnlyTheLatestJobRow) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a"));
  Job job = MakeJob("j-a");
  for (int step = 1; step <= 5; ++step) {
    job.set_step(step);
    store->BufferJob(job);  // one row per job, the latest
  }
  store->BufferEvent(MetricEvent("j-a", 2, 5, 0.5));
  store->BufferEvent(MetricEvent("j-a", 3, 6, 0.4));
  store->BufferMetric("j-a", Point("loss", 5, 0.5));
  store->BufferMetric("j-a", Point("lr", 5, 0.01));
  absl::StatusOr<int> rows = store->Flush();
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, 1 + 2 + 2);
  EXPECT_EQ(*store->Flush(), 0);  // nothing left
  EXPECT_EQ(store->LoadJobs()->at(0).step(), 5);
}

// The destructor does not flush, which is exactly what a crash looks like to
// the file: buffered rows are gone, synchronous commits are not.
TEST(JobStoreTest, UnflushedBufferIsLostOnCrashButCommitsAreNot) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    Insert(*store, MakeJob("j-a"));
    Job job = MakeJob("j-a");
    job.set_step(50);
    store->BufferJob(job);
    store->BufferEvent(MetricEvent("j-a", 2, 50, 0.8));
    store->BufferMetric("j-a", Point("loss", 50, 0.8));
    // A synchronous commit flushes what was buffered before it.
    job.set_state(vmae::v1::JOB_STATE_RUNNING);
    ASSERT_OK(store->CommitJob(
        job, {StateEvent("j-a", 3, vmae::v1::JOB_STATE_QUEUED, vmae::v1::JOB_STATE_RUNNING, 1)}));
    // Buffered after the commit, never flushed.
    job.set_step(60);
    store->BufferJob(job);
    store->BufferEvent(MetricEvent("j-a", 4, 60, 0.7));
    store->BufferMetric("j-a", Point("loss", 60, 0.7));
    EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2, 3, 4));
    // "Crash": the store goes away without Flush().
  }
  std::unique_ptr<JobStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2, 3));
  EXPECT_EQ(*store->LastEventSeq("j-a"), 3);
  absl::StatusOr<std::vector<Job>> jobs = store->LoadJobs();
  ASSERT_OK(jobs);
  EXPECT_EQ((*jobs)[0].state(), vmae::v1::JOB_STATE_RUNNING);
  EXPECT_EQ((*jobs)[0].step(), 50);
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 0)), ElementsAre(50));
}

TEST(JobStoreTest, FailedFlushKeepsTheBufferForTheNextAttempt) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  std::unique_ptr<JobStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a"));
  store->BufferEvent(MetricEvent("j-a", 2, 1, 0.9));
  store->BufferMetric("j-a", Point("loss", 1, 0.9));
  // Another connection makes every metric insert fail.
  RawExec(path,
          "CREATE TRIGGER fail_metrics BEFORE INSERT ON metrics "
          "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  ASSERT_FALSE(HasFatalFailure());
  absl::StatusOr<int> rows = store->Flush();
  EXPECT_FALSE(rows.ok());
  EXPECT_THAT(std::string(rows.status().message()), HasSubstr("injected failure"));
  // A synchronous commit fails too (it flushes first), and writes nothing.
  Job running = MakeJob("j-a");
  running.set_state(vmae::v1::JOB_STATE_RUNNING);
  EXPECT_FALSE(store
                   ->CommitJob(running, {StateEvent("j-a", 3, vmae::v1::JOB_STATE_QUEUED,
                                                    vmae::v1::JOB_STATE_RUNNING)})
                   .ok());
  EXPECT_EQ(store->LoadJobs()->at(0).state(), vmae::v1::JOB_STATE_QUEUED);
  // Nothing lost: still readable from the buffer.
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2));
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 0)), ElementsAre(1));

  RawExec(path, "DROP TRIGGER fail_metrics");
  ASSERT_FALSE(HasFatalFailure());
  rows = store->Flush();
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, 2);
  store.reset();
  store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2));
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 0)), ElementsAre(1));
}

TEST(JobStoreTest, ReadEventsMergesStoredAndBufferedInSeqOrder) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a"));
  Insert(*store, MakeJob("j-b"));
  store->BufferEvent(MetricEvent("j-a", 2, 1, 1.0));
  store->BufferEvent(LogEvent("j-a", 3, 0, 1, "stored log"));
  store->BufferEvent(MetricEvent("j-a", 4, 2, 0.9));
  ASSERT_OK(store->Flush());
  // Buffered, and out of order: 7 before 5 and 6.
  store->BufferEvent(MetricEvent("j-a", 7, 4, 0.7));
  store->BufferEvent(LogEvent("j-a", 5, 0, 1, "buffered log"));
  store->BufferEvent(MetricEvent("j-a", 6, 3, 0.8));
  store->BufferEvent(MetricEvent("j-b", 2, 1, 5.0));

  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2, 3, 4, 5, 6, 7));
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 2, 3, true)), ElementsAre(3, 4, 5));
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 4, 0, true)), ElementsAre(5, 6, 7));
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, false)), ElementsAre(1, 2, 4, 6, 7));
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 7, 0, true)), IsEmpty());
  EXPECT_THAT(Seqs(store->ReadEvents("j-b", 0, 0, true)), ElementsAre(1, 2));
  EXPECT_EQ(*store->LastEventSeq("j-a"), 7);

  // Flushing changes nothing a reader sees.
  ASSERT_OK(store->Flush());
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, true)), ElementsAre(1, 2, 3, 4, 5, 6, 7));
  EXPECT_THAT(Seqs(store->ReadEvents("j-a", 0, 0, false)), ElementsAre(1, 2, 4, 6, 7));

  // A buffered event with a stored seq replaces it: one copy, the newer.
  store->BufferEvent(MetricEvent("j-a", 4, 2, 0.25));
  absl::StatusOr<std::vector<JobEvent>> events = store->ReadEvents("j-a", 0, 0, true);
  EXPECT_THAT(Seqs(events), ElementsAre(1, 2, 3, 4, 5, 6, 7));
  EXPECT_EQ((*events)[3].metric().value(), 0.25);
}

TEST(JobStoreTest, ReadLogsFiltersByRankAndAttempt) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  Insert(*store, MakeJob("j-a"));
  store->BufferEvent(LogEvent("j-a", 2, 0, 1, "r0a1"));
  store->BufferEvent(LogEvent("j-a", 3, 1, 1, "r1a1"));
  store->BufferEvent(MetricEvent("j-a", 4, 1, 0.5));
  store->BufferEvent(LogEvent("j-a", 5, -1, 1, "coordinator"));
  ASSERT_OK(store->Flush());
  store->BufferEvent(LogEvent("j-a", 6, 0, 2, "r0a2"));
  store->BufferEvent(LogEvent("j-a", 7, 1, 2, "r1a2"));

  EXPECT_THAT(Texts(store->ReadLogs("j-a", -1, 0, 0, 0)),
              ElementsAre("r0a1", "r1a1", "coordinator", "r0a2", "r1a2"));
  EXPECT_THAT(Texts(store->ReadLogs("j-a", 1, 0, 0, 0)), ElementsAre("r1a1", "r1a2"));
  EXPECT_THAT(Texts(store->ReadLogs("j-a", -1, 2, 0, 0)), ElementsAre("r0a2", "r1a2"));
  EXPECT_THAT(Texts(store->ReadLogs("j-a", 0, 1, 0, 0)), ElementsAre("r0a1"));
  EXPECT_THAT(Texts(store->ReadLogs("j-a", -1, 0, 3, 2)), ElementsAre("coordinator", "r0a2"));
  EXPECT_THAT(Texts(store->ReadLogs("j-a", 5, 0, 0, 0)), IsEmpty());
  absl::StatusOr<std::vector<LogLine>> lines = store->ReadLogs("j-a", 1, 0, 0, 0);
  ASSERT_OK(lines);
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_EQ((*lines)[0].seq(), 3);
  EXPECT_EQ((*lines)[1].seq(), 7);
  EXPECT_EQ((*lines)[1].rank(), 1);
  EXPECT_EQ((*lines)[1].attempt(), 2);
  EXPECT_EQ((*lines)[1].time().seconds(), 5);  // the event's time
}

// ---- Metrics -----------------------------------------------------------------------

TEST(JobStoreTest, ReadMetricsFiltersByRangeAndDownsamples) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  for (int step = 0; step < 100; ++step) {
    store->BufferMetric("j-a", Point("loss", step, step * 0.5));
    store->BufferMetric("j-a", Point("lr", step, 1.0));
    store->BufferMetric("j-b", Point("loss", step, 2.0));
  }
  ASSERT_OK(store->Flush());

  // 100 points, at most 10: k = ceil(100 / 10) = 10 -> 0, 10, ..., 90, plus
  // the last point, 99.
  absl::StatusOr<std::vector<MetricPoint>> points = store->ReadMetrics("j-a", "loss", 0, 0, 10);
  EXPECT_THAT(Steps(points), ElementsAre(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99));
  ASSERT_OK(points);
  EXPECT_EQ((*points)[2].value(), 10.0);
  EXPECT_EQ((*points)[2].name(), "loss");
  EXPECT_EQ((*points)[2].time().seconds(), 1700000000);
  EXPECT_EQ((*points)[2].time().nanos(), 20 * 1000000);

  // No limit, or a limit above the count: every point.
  EXPECT_EQ(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 0)).size(), 100u);
  EXPECT_EQ(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 100)).size(), 100u);
  // 100 points, at most 30: k = ceil(100 / 30) = 4 -> 0, 4, ..., 96, plus 99.
  std::vector<int64_t> expected;
  for (int64_t step = 0; step < 100; step += 4) {
    expected.push_back(step);
  }
  expected.push_back(99);
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 30)), ElementsAreArray(expected));
  // Range [20, 29] inclusive.
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 20, 29, 0)),
              ElementsAre(20, 21, 22, 23, 24, 25, 26, 27, 28, 29));
  // 10 points, at most 3: k = ceil(10 / 3) = 4 -> 20, 24, 28 plus the last, 29.
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 20, 29, 3)), ElementsAre(20, 24, 28, 29));
  // Open end.
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 97, 0, 0)), ElementsAre(97, 98, 99));
  // Unknown series, empty range.
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "nope", 0, 0, 10)), IsEmpty());
  EXPECT_THAT(Steps(store->ReadMetrics("j-c", "loss", 0, 0, 10)), IsEmpty());
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 50, 40, 10)), IsEmpty());
}

TEST(JobStoreTest, ReadMetricsIncludesBufferedPoints) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  for (int step = 0; step < 100; ++step) {
    store->BufferMetric("j-a", Point("loss", step, 1.0));
  }
  ASSERT_OK(store->Flush());
  for (int step = 100; step < 105; ++step) {
    store->BufferMetric("j-a", Point("loss", step, 2.0));
  }
  // Re-reported after a restart: replaces the stored value, no duplicate.
  store->BufferMetric("j-a", Point("loss", 5, 3.0));

  absl::StatusOr<std::vector<MetricPoint>> all = store->ReadMetrics("j-a", "loss", 0, 0, 0);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 105u);
  EXPECT_EQ((*all)[5].value(), 3.0);
  EXPECT_EQ((*all)[104].value(), 2.0);
  // 105 points, at most 10: k = ceil(105 / 10) = 11 -> 0, 11, ..., 99, plus 104.
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 10)),
              ElementsAre(0, 11, 22, 33, 44, 55, 66, 77, 88, 99, 104));
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 98, 101, 0)), ElementsAre(98, 99, 100, 101));

  ASSERT_OK(store->Flush());
  EXPECT_THAT(Steps(store->ReadMetrics("j-a", "loss", 0, 0, 10)),
              ElementsAre(0, 11, 22, 33, 44, 55, 66, 77, 88, 99, 104));
  EXPECT_EQ((*store->ReadMetrics("j-a", "loss", 5, 5, 0))[0].value(), 3.0);
}

// ---- Checkpoints -------------------------------------------------------------------

CheckpointRecord Checkpoint(const std::string& job_id, int64_t step, bool committed,
                            const std::string& upload_id = "") {
  CheckpointRecord record;
  record.info.set_id(job_id + "-s" + std::to_string(step));
  record.info.set_job_id(job_id);
  record.info.set_step(step);
  record.info.set_size_bytes(1000 + step);
  vmae::v1::CheckpointFile* file = record.info.add_files();
  file->set_name("model.safetensors");
  file->set_sha256(std::string(64, 'a'));
  record.upload_id = upload_id;
  record.committed = committed;
  return record;
}

TEST(JobStoreTest, CheckpointsUpsertListAndDelete) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->UpsertCheckpoint(Checkpoint("j-a", 300, true, "u-300")));
  ASSERT_OK(store->UpsertCheckpoint(Checkpoint("j-a", 100, true)));
  ASSERT_OK(store->UpsertCheckpoint(Checkpoint("j-a", 200, false, "u-200")));
  CheckpointRecord deleting = Checkpoint("j-a", 400, true, "u-400");
  deleting.deleting = true;
  ASSERT_OK(store->UpsertCheckpoint(deleting));
  ASSERT_OK(store->UpsertCheckpoint(Checkpoint("j-b", 100, true)));

  // Pending and deleting rows are hidden from users, ordered by step.
  EXPECT_THAT(Ids(store->ListCheckpoints("j-a", false)), ElementsAre("j-a-s100", "j-a-s300"));
  EXPECT_THAT(Ids(store->ListCheckpoints("j-a", true)),
              ElementsAre("j-a-s100", "j-a-s200", "j-a-s300", "j-a-s400"));

  absl::StatusOr<std::optional<CheckpointRecord>> pending = store->GetCheckpointByUpload("u-200");
  ASSERT_OK(pending);
  ASSERT_TRUE(pending->has_value());
  EXPECT_EQ((*pending)->info.id(), "j-a-s200");
  EXPECT_FALSE((*pending)->committed);
  EXPECT_EQ((*pending)->upload_id, "u-200");
  EXPECT_EQ((*pending)->info.files(0).name(), "model.safetensors");
  EXPECT_EQ((*pending)->info.size_bytes(), 1200);

  // Commit the upload: now visible.
  ASSERT_OK(store->UpsertCheckpoint(Checkpoint("j-a", 200, true, "u-200")));
  EXPECT_THAT(Ids(store->ListCheckpoints("j-a", false)),
              ElementsAre("j-a-s100", "j-a-s200", "j-a-s300"));

  // An upload id belongs to one checkpoint.
  EXPECT_THAT(store->UpsertCheckpoint(Checkpoint("j-a", 500, false, "u-200")),
              StatusIs(absl::StatusCode::kAlreadyExists));

  absl::StatusOr<std::optional<CheckpointRecord>> got = store->GetCheckpoint("j-a-s100");
  ASSERT_OK(got);
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->upload_id, "");
  EXPECT_TRUE((*got)->committed);
  EXPECT_FALSE((*got)->deleting);

  ASSERT_OK(store->DeleteCheckpointRow("j-a-s100"));
  ASSERT_OK(store->DeleteCheckpointRow("j-a-s100"));  // idempotent
  EXPECT_FALSE(store->GetCheckpoint("j-a-s100")->has_value());
  EXPECT_FALSE(store->GetCheckpointByUpload("u-unknown")->has_value());
  EXPECT_FALSE(store->GetCheckpointByUpload("")->has_value());
  EXPECT_THAT(Ids(store->ListCheckpoints("j-a", false)), ElementsAre("j-a-s200", "j-a-s300"));
  EXPECT_THAT(Ids(store->ListCheckpoints("j-b", false)), ElementsAre("j-b-s100"));
}

TEST(JobStoreTest, PinsAreCountedPerJob) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->UpsertCheckpoint(Checkpoint("j-a", 100, true)));
  EXPECT_FALSE(*store->IsPinned("j-a-s100"));
  ASSERT_OK(store->Pin("j-a-s100", "j-b"));
  ASSERT_OK(store->Pin("j-a-s100", "j-b"));  // idempotent
  ASSERT_OK(store->Pin("j-a-s100", "j-c"));
  EXPECT_TRUE(*store->IsPinned("j-a-s100"));
  EXPECT_TRUE((*store->GetCheckpoint("j-a-s100"))->info.pinned());
  ASSERT_OK(store->UnpinAllBy("j-b"));
  EXPECT_TRUE(*store->IsPinned("j-a-s100"));  // j-c still holds it
  ASSERT_OK(store->UnpinAllBy("j-c"));
  EXPECT_FALSE(*store->IsPinned("j-a-s100"));
  EXPECT_FALSE((*store->GetCheckpoint("j-a-s100"))->info.pinned());
  EXPECT_FALSE(*store->IsPinned("unknown"));
}

// ---- KV and counters ---------------------------------------------------------------

TEST(JobStoreTest, KvIsScopedByJobAndAttempt) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  const std::string binary("10.0.0.1:29500\0x", 16);
  ASSERT_OK(store->KvSet("j-a", 1, "master_addr", "old:1"));
  ASSERT_OK(store->KvSet("j-a", 2, "master_addr", "new:2"));
  ASSERT_OK(store->KvSet("j-a", 2, "blob", binary));
  ASSERT_OK(store->KvSet("j-b", 1, "master_addr", "other:1"));
  EXPECT_EQ(**store->KvGet("j-a", 1, "master_addr"), "old:1");
  EXPECT_EQ(**store->KvGet("j-a", 2, "master_addr"), "new:2");
  EXPECT_EQ(**store->KvGet("j-a", 2, "blob"), binary);
  EXPECT_FALSE(store->KvGet("j-a", 3, "master_addr")->has_value());
  ASSERT_OK(store->KvSet("j-a", 2, "master_addr", "newer:2"));
  EXPECT_EQ(**store->KvGet("j-a", 2, "master_addr"), "newer:2");

  ASSERT_OK(store->KvDropOlderAttempts("j-a", 2));
  EXPECT_FALSE(store->KvGet("j-a", 1, "master_addr")->has_value());
  EXPECT_EQ(**store->KvGet("j-a", 2, "master_addr"), "newer:2");
  EXPECT_EQ(**store->KvGet("j-b", 1, "master_addr"), "other:1");
}

TEST(JobStoreTest, NextCounterIsMonotonicAcrossReopen) {
  TempDir dir;
  const std::string path = dir.File("state.db");
  {
    std::unique_ptr<JobStore> store = OpenStore(path);
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(*store->NextCounter("agent_epoch"), 1);
    EXPECT_EQ(*store->NextCounter("agent_epoch"), 2);
    EXPECT_EQ(*store->NextCounter("job_id"), 1);
    EXPECT_EQ(*store->NextCounter("agent_epoch"), 3);
  }
  std::unique_ptr<JobStore> store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*store->NextCounter("agent_epoch"), 4);
  EXPECT_EQ(*store->NextCounter("job_id"), 2);
}

// ---- Threads ------------------------------------------------------------------------

TEST(JobStoreTest, ConcurrentBufferingFlushingAndReading) {
  TempDir dir;
  std::unique_ptr<JobStore> store = OpenStore(dir.File("state.db"));
  ASSERT_NE(store, nullptr);
  constexpr int kJobs = 3;
  constexpr int kEvents = 200;
  for (int j = 0; j < kJobs; ++j) {
    Insert(*store, MakeJob("j-" + std::to_string(j)));
  }
  std::vector<std::thread> threads;
  for (int j = 0; j < kJobs; ++j) {
    threads.emplace_back([&store, j] {
      const std::string id = "j-" + std::to_string(j);
      for (int i = 0; i < kEvents; ++i) {
        store->BufferEvent(MetricEvent(id, 2 + i, i, 1.0));
        store->BufferMetric(id, Point("loss", i, 1.0));
        if (i % 50 == 0) {
          EXPECT_OK(store->ReadEvents(id, 0, 0, true));
        }
      }
    });
  }
  threads.emplace_back([&store] {
    for (int i = 0; i < 20; ++i) {
      EXPECT_OK(store->Flush());
      std::this_thread::yield();
    }
  });
  for (std::thread& thread : threads) {
    thread.join();
  }
  ASSERT_OK(store->Flush());
  for (int j = 0; j < kJobs; ++j) {
    const std::string id = "j-" + std::to_string(j);
    EXPECT_EQ(*store->LastEventSeq(id), 1 + kEvents);
    EXPECT_EQ(Seqs(store->ReadEvents(id, 0, 0, true)).size(), 1u + kEvents);
    EXPECT_EQ(Steps(store->ReadMetrics(id, "loss", 0, 0, 0)).size(), static_cast<size_t>(kEvents));
  }
}

}  // namespace
}  // namespace vmae::server
