#include "server/store/job_store.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/store/migrations.h"
#include "server/store/sqlite_db.h"

namespace vmae::server {
namespace {

using vmae::v1::CheckpointInfo;
using vmae::v1::Job;
using vmae::v1::JobEvent;
using vmae::v1::LogLine;
using vmae::v1::MetricPoint;

// events.kind values (schema v1).
constexpr int kKindOther = 0;
constexpr int kKindState = 1;
constexpr int kKindMetric = 2;
constexpr int kKindCheckpoint = 3;
constexpr int kKindLog = 4;
constexpr int kKindSnapshot = 5;

// ---- SQL --------------------------------------------------------------------
constexpr char kSelectJobs[] = "SELECT job FROM jobs ORDER BY create_ms, id";
constexpr char kInsertJob[] =
    "INSERT INTO jobs (id, owner, name, state, create_ms, idempotency_key, job) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";
// Progress and state updates never touch the idempotency key.
constexpr char kUpsertJob[] =
    "INSERT INTO jobs (id, owner, name, state, create_ms, idempotency_key, job) "
    "VALUES (?, ?, ?, ?, ?, NULL, ?) "
    "ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, name = excluded.name, "
    "state = excluded.state, create_ms = excluded.create_ms, job = excluded.job";
constexpr char kFindByKey[] = "SELECT id FROM jobs WHERE owner = ? AND idempotency_key = ?";
constexpr char kInsertEvent[] =
    "INSERT OR REPLACE INTO events (job_id, seq, kind, rank, attempt, time_ms, payload) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)";
constexpr char kLastSeq[] = "SELECT MAX(seq) FROM events WHERE job_id = ?";
constexpr char kSelectEvents[] =
    "SELECT seq, payload FROM events WHERE job_id = ? AND seq > ? AND (? = 1 OR kind <> 4) "
    "ORDER BY seq LIMIT ?";
constexpr char kSelectLogs[] =
    "SELECT seq, payload FROM events WHERE job_id = ? AND kind = 4 AND seq > ? "
    "AND (? < 0 OR rank = ?) AND (? = 0 OR attempt = ?) ORDER BY seq LIMIT ?";
constexpr char kInsertMetric[] =
    "INSERT OR REPLACE INTO metrics (job_id, name, step, value, time_ms) VALUES (?, ?, ?, ?, ?)";
constexpr char kCountMetrics[] =
    "SELECT COUNT(*) FROM metrics WHERE job_id = ? AND name = ? AND step BETWEEN ? AND ?";
constexpr char kHasMetric[] =
    "SELECT COUNT(*) FROM metrics WHERE job_id = ? AND name = ? AND step = ?";
constexpr char kSelectMetrics[] =
    "SELECT step, value, time_ms FROM metrics WHERE job_id = ? AND name = ? "
    "AND step BETWEEN ? AND ? ORDER BY step";
constexpr char kUpsertCheckpoint[] =
    "INSERT INTO checkpoints (id, job_id, step, upload_id, committed, deleting, info) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET job_id = excluded.job_id, step = excluded.step, "
    "upload_id = excluded.upload_id, committed = excluded.committed, "
    "deleting = excluded.deleting, info = excluded.info";
#define VMAE_CHECKPOINT_COLUMNS                                              \
  "SELECT c.id, c.job_id, c.step, c.upload_id, c.committed, c.deleting, c.info, " \
  "EXISTS (SELECT 1 FROM pins AS p WHERE p.checkpoint_id = c.id) AS pinned "      \
  "FROM checkpoints AS c "
constexpr char kGetCheckpoint[] = VMAE_CHECKPOINT_COLUMNS "WHERE c.id = ?";
constexpr char kGetCheckpointByUpload[] = VMAE_CHECKPOINT_COLUMNS "WHERE c.upload_id = ?";
constexpr char kListCheckpoints[] = VMAE_CHECKPOINT_COLUMNS
    "WHERE c.job_id = ? AND (? = 1 OR (c.committed = 1 AND c.deleting = 0)) "
    "ORDER BY c.step, c.id";
#undef VMAE_CHECKPOINT_COLUMNS
constexpr char kDeleteCheckpoint[] = "DELETE FROM checkpoints WHERE id = ?";
constexpr char kPin[] = "INSERT OR IGNORE INTO pins (checkpoint_id, job_id) VALUES (?, ?)";
constexpr char kUnpinAllBy[] = "DELETE FROM pins WHERE job_id = ?";
constexpr char kIsPinned[] = "SELECT EXISTS (SELECT 1 FROM pins WHERE checkpoint_id = ?)";
constexpr char kKvSet[] =
    "INSERT INTO kv (job_id, attempt, key, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (job_id, attempt, key) DO UPDATE SET value = excluded.value";
constexpr char kKvGet[] = "SELECT value FROM kv WHERE job_id = ? AND attempt = ? AND key = ?";
constexpr char kKvDropOlder[] = "DELETE FROM kv WHERE job_id = ? AND attempt < ?";
constexpr char kNextCounter[] =
    "INSERT INTO counters (name, value) VALUES (?, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value";

// ---- Helpers ----------------------------------------------------------------

int64_t ToMillis(const google::protobuf::Timestamp& time) {
  return time.seconds() * 1000 + time.nanos() / 1000000;
}

void SetMillis(int64_t ms, google::protobuf::Timestamp* time) {
  int64_t seconds = ms / 1000;
  int64_t rest = ms % 1000;
  if (rest < 0) {  // floor for times before 1970.
    seconds -= 1;
    rest += 1000;
  }
  time->set_seconds(seconds);
  time->set_nanos(static_cast<int32_t>(rest * 1000000));
}

int EventKind(const JobEvent& event) {
  switch (event.payload_case()) {
    case JobEvent::kState:
      return kKindState;
    case JobEvent::kMetric:
      return kKindMetric;
    case JobEvent::kCheckpoint:
      return kKindCheckpoint;
    case JobEvent::kLog:
      return kKindLog;
    case JobEvent::kSnapshot:
      return kKindSnapshot;
    default:
      return kKindOther;
  }
}

absl::StatusOr<std::string> Serialize(const google::protobuf::MessageLite& message,
                                      absl::string_view what) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot serialize ", what));
  }
  return bytes;
}

template <typename Message>
absl::StatusOr<Message> Parse(const std::string& bytes, absl::string_view what) {
  Message message;
  if (!message.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("stored ", what, " does not parse"));
  }
  return message;
}

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  if (status.ok()) {
    return status;
  }
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// Writes a job row: a fresh INSERT (with its idempotency key) or an upsert.
absl::Status WriteJob(Db& db, const Job& job, const std::string* idempotency_key) {
  VMAE_ASSIGN_OR_RETURN(std::string blob, Serialize(job, "job " + job.id()));
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt,
                        db.Cached(idempotency_key != nullptr ? kInsertJob : kUpsertJob));
  VMAE_RETURN_IF_ERROR(stmt->BindAll(job.id(), job.owner(), job.name(),
                                     static_cast<int64_t>(job.state()),
                                     ToMillis(job.create_time())));
  int next = 6;
  if (idempotency_key != nullptr) {
    if (idempotency_key->empty()) {
      VMAE_RETURN_IF_ERROR(stmt->BindNull(next));
    } else {
      VMAE_RETURN_IF_ERROR(stmt->Bind(next, *idempotency_key));
    }
    ++next;
  }
  VMAE_RETURN_IF_ERROR(stmt->Bind(next, Blob{blob}));
  return WithContext(stmt->Run(), absl::StrCat("writing job ", job.id()));
}

absl::Status WriteEvent(Db& db, const JobEvent& event) {
  VMAE_ASSIGN_OR_RETURN(std::string blob, Serialize(event, "event"));
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db.Cached(kInsertEvent));
  VMAE_RETURN_IF_ERROR(
      stmt->BindAll(event.job_id(), event.seq(), EventKind(event), nullptr, nullptr,
                    ToMillis(event.time()), Blob{blob}));
  switch (event.payload_case()) {
    case JobEvent::kLog:
      VMAE_RETURN_IF_ERROR(stmt->Bind(4, event.log().rank()));
      VMAE_RETURN_IF_ERROR(stmt->Bind(5, event.log().attempt()));
      break;
    case JobEvent::kState:
      VMAE_RETURN_IF_ERROR(stmt->Bind(5, event.state().attempt()));
      break;
    case JobEvent::kCheckpoint:
      VMAE_RETURN_IF_ERROR(stmt->Bind(5, event.checkpoint().attempt()));
      break;
    default:
      break;
  }
  return WithContext(stmt->Run(),
                     absl::StrCat("writing event ", event.seq(), " of job ", event.job_id()));
}

absl::Status WriteMetric(Db& db, const std::string& job_id, const MetricPoint& point) {
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db.Cached(kInsertMetric));
  VMAE_RETURN_IF_ERROR(
      stmt->BindAll(job_id, point.name(), point.step(), point.value(), ToMillis(point.time())));
  return WithContext(stmt->Run(), absl::StrCat("writing metric ", point.name(), " of job ", job_id));
}

// Reads (seq, payload) rows into events.
absl::StatusOr<std::vector<JobEvent>> ReadEventRows(Statement& stmt) {
  std::vector<JobEvent> events;
  while (true) {
    VMAE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) {
      break;
    }
    int64_t seq = stmt.ColumnInt64(0);
    VMAE_ASSIGN_OR_RETURN(JobEvent event,
                          Parse<JobEvent>(stmt.ColumnBlob(1), absl::StrCat("event ", seq)));
    event.set_seq(seq);
    events.push_back(std::move(event));
  }
  return events;
}

// Merges stored events (ascending seq) with buffered ones (a seq-ordered
// map, already filtered); a buffered event replaces a stored one of the same
// seq. At most `limit` (<= 0: all).
std::vector<JobEvent> MergeEvents(std::vector<JobEvent> stored,
                                  const std::vector<const JobEvent*>& buffered, int limit) {
  std::vector<JobEvent> merged;
  size_t max = limit > 0 ? static_cast<size_t>(limit) : std::numeric_limits<size_t>::max();
  size_t i = 0;
  size_t j = 0;
  while (merged.size() < max && (i < stored.size() || j < buffered.size())) {
    if (j == buffered.size() || (i < stored.size() && stored[i].seq() < buffered[j]->seq())) {
      merged.push_back(std::move(stored[i++]));
    } else {
      if (i < stored.size() && stored[i].seq() == buffered[j]->seq()) {
        ++i;  // the buffered event is newer.
      }
      merged.push_back(*buffered[j++]);
    }
  }
  return merged;
}

absl::StatusOr<CheckpointRecord> ReadCheckpointRow(const Statement& stmt) {
  std::string id = stmt.ColumnText(0);
  VMAE_ASSIGN_OR_RETURN(CheckpointInfo info,
                        Parse<CheckpointInfo>(stmt.ColumnBlob(6), "checkpoint " + id));
  CheckpointRecord record;
  record.info = std::move(info);
  record.info.set_id(id);
  record.info.set_job_id(stmt.ColumnText(1));
  record.info.set_step(stmt.ColumnInt64(2));
  record.upload_id = stmt.ColumnIsNull(3) ? "" : stmt.ColumnText(3);
  record.committed = stmt.ColumnInt64(4) != 0;
  record.deleting = stmt.ColumnInt64(5) != 0;
  record.info.set_pinned(stmt.ColumnInt64(7) != 0);
  return record;
}

absl::StatusOr<std::optional<CheckpointRecord>> ReadOneCheckpoint(Db& db, const char* sql,
                                                                  const std::string& key) {
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db.Cached(sql));
  VMAE_RETURN_IF_ERROR(stmt->Bind(1, key));
  VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) {
    return std::optional<CheckpointRecord>();
  }
  VMAE_ASSIGN_OR_RETURN(CheckpointRecord record, ReadCheckpointRow(*stmt));
  return std::optional<CheckpointRecord>(std::move(record));
}

// Runs a statement that changes rows and returns none.
template <typename... Args>
absl::Status RunWrite(Db& db, const char* sql, absl::string_view context, const Args&... args) {
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db.Cached(sql));
  VMAE_RETURN_IF_ERROR(stmt->BindAll(args...));
  return WithContext(stmt->Run(), context);
}

}  // namespace

// What waits for the next group commit. Ordered maps keep the latest row
// per key and give reads their order for free.
struct JobStore::Buffer {
  std::map<std::string, Job> jobs;                                   // by job id.
  std::map<std::string, std::map<int64_t, JobEvent>> events;         // job -> seq.
  std::map<std::pair<std::string, std::string>, std::map<int64_t, MetricPoint>>
      metrics;                                                       // (job, name) -> step.

  int Rows() const {
    size_t rows = jobs.size();
    for (const auto& entry : events) {
      rows += entry.second.size();
    }
    for (const auto& entry : metrics) {
      rows += entry.second.size();
    }
    return static_cast<int>(rows);
  }
  bool Empty() const { return jobs.empty() && events.empty() && metrics.empty(); }
  void Clear() {
    jobs.clear();
    events.clear();
    metrics.clear();
  }
};

JobStore::JobStore(std::unique_ptr<Db> db)
    : db_(std::move(db)), buffer_(std::make_unique<Buffer>()) {}

JobStore::~JobStore() = default;

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  Db::OpenOptions options;
  options.verify_before_write = [](Db& db) { return CheckVmaeDatabase(db); };
  VMAE_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::Open(path, options));
  VMAE_ASSIGN_OR_RETURN(int version, ApplyMigrations(*db));
  std::unique_ptr<JobStore> store(new JobStore(std::move(db)));
  store->schema_version_ = version;
  return store;
}

int JobStore::SchemaVersion() const { return schema_version_; }

// ---- Jobs -------------------------------------------------------------------

absl::StatusOr<std::vector<Job>> JobStore::LoadJobs() {
  absl::MutexLock lock(&mu_);
  std::vector<Job> jobs;
  {
    VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kSelectJobs));
    while (true) {
      VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
      if (!row) {
        break;
      }
      VMAE_ASSIGN_OR_RETURN(Job job, Parse<Job>(stmt->ColumnBlob(0), "job row"));
      jobs.push_back(std::move(job));
    }
  }
  // Buffered progress is newer than the stored rows.
  if (!buffer_->jobs.empty()) {
    std::map<std::string, const Job*> pending;
    for (const auto& [id, job] : buffer_->jobs) {
      pending.emplace(id, &job);
    }
    for (Job& job : jobs) {
      auto it = pending.find(job.id());
      if (it != pending.end()) {
        job = *it->second;
        pending.erase(it);
      }
    }
    for (const auto& [id, job] : pending) {
      jobs.push_back(*job);
    }
    std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
      int64_t ma = ToMillis(a.create_time());
      int64_t mb = ToMillis(b.create_time());
      return ma != mb ? ma < mb : a.id() < b.id();
    });
  }
  return jobs;
}

absl::Status JobStore::InsertJob(const Job& job, const std::string& idempotency_key,
                                 const JobEvent& created_event, std::string* existing_id) {
  if (job.id().empty()) {
    return absl::InvalidArgumentError("InsertJob: job has no id");
  }
  if (existing_id != nullptr) {
    existing_id->clear();
  }
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  if (!idempotency_key.empty()) {
    // Checked inside the write transaction, so two racing submissions with
    // the same key cannot both insert.
    VMAE_ASSIGN_OR_RETURN(ScopedStatement find, db_->Cached(kFindByKey));
    VMAE_RETURN_IF_ERROR(find->BindAll(job.owner(), idempotency_key));
    VMAE_ASSIGN_OR_RETURN(bool row, find->Step());
    if (row) {
      if (existing_id != nullptr) {
        *existing_id = find->ColumnText(0);
      }
      return absl::OkStatus();  // tx rolls back: nothing written.
    }
  }
  VMAE_RETURN_IF_ERROR(WriteBufferLocked().status());
  VMAE_RETURN_IF_ERROR(WriteJob(*db_, job, &idempotency_key));
  VMAE_RETURN_IF_ERROR(WriteEvent(*db_, created_event));
  VMAE_RETURN_IF_ERROR(WithContext(tx.Commit(), absl::StrCat("inserting job ", job.id())));
  buffer_->Clear();
  return absl::OkStatus();
}

absl::StatusOr<std::string> JobStore::FindByIdempotencyKey(const std::string& owner,
                                                           const std::string& key) {
  if (key.empty()) {
    return std::string();
  }
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(ScopedStatement find, db_->Cached(kFindByKey));
  VMAE_RETURN_IF_ERROR(find->BindAll(owner, key));
  VMAE_ASSIGN_OR_RETURN(bool row, find->Step());
  return row ? find->ColumnText(0) : std::string();
}

absl::Status JobStore::CommitJob(const Job& job, const std::vector<JobEvent>& events) {
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  // The buffer first: its rows are older, and event seqs reach disk in order.
  VMAE_RETURN_IF_ERROR(WriteBufferLocked().status());
  VMAE_RETURN_IF_ERROR(WriteJob(*db_, job, nullptr));
  for (const JobEvent& event : events) {
    VMAE_RETURN_IF_ERROR(WriteEvent(*db_, event));
  }
  VMAE_RETURN_IF_ERROR(WithContext(tx.Commit(), absl::StrCat("committing job ", job.id())));
  buffer_->Clear();
  return absl::OkStatus();
}

void JobStore::BufferJob(const Job& job) {
  absl::MutexLock lock(&mu_);
  buffer_->jobs[job.id()] = job;
}

void JobStore::BufferEvent(const JobEvent& event) {
  absl::MutexLock lock(&mu_);
  buffer_->events[event.job_id()][event.seq()] = event;
}

void JobStore::BufferMetric(const std::string& job_id, const MetricPoint& point) {
  absl::MutexLock lock(&mu_);
  buffer_->metrics[{job_id, point.name()}][point.step()] = point;
}

absl::StatusOr<int> JobStore::WriteBufferLocked() {
  int rows = 0;
  for (const auto& [id, job] : buffer_->jobs) {
    VMAE_RETURN_IF_ERROR(WriteJob(*db_, job, nullptr));
    ++rows;
  }
  for (const auto& [job_id, by_seq] : buffer_->events) {
    for (const auto& [seq, event] : by_seq) {
      VMAE_RETURN_IF_ERROR(WriteEvent(*db_, event));
      ++rows;
    }
  }
  for (const auto& [key, by_step] : buffer_->metrics) {
    for (const auto& [step, point] : by_step) {
      VMAE_RETURN_IF_ERROR(WriteMetric(*db_, key.first, point));
      ++rows;
    }
  }
  return rows;
}

absl::Status JobStore::FlushLocked() {
  if (buffer_->Empty()) {
    return absl::OkStatus();
  }
  VMAE_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(*db_));
  VMAE_RETURN_IF_ERROR(WriteBufferLocked().status());
  VMAE_RETURN_IF_ERROR(WithContext(tx.Commit(), "flushing the write buffer"));
  // Only now: a failed transaction leaves the buffer for the next attempt.
  buffer_->Clear();
  return absl::OkStatus();
}

absl::StatusOr<int> JobStore::Flush() {
  absl::MutexLock lock(&mu_);
  int rows = buffer_->Rows();
  VMAE_RETURN_IF_ERROR(FlushLocked());
  return rows;
}

// ---- Events -----------------------------------------------------------------

absl::StatusOr<int64_t> JobStore::LastEventSeq(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  int64_t last = 0;
  {
    VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kLastSeq));
    VMAE_RETURN_IF_ERROR(stmt->Bind(1, job_id));
    VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (row && !stmt->ColumnIsNull(0)) {
      last = stmt->ColumnInt64(0);
    }
  }
  auto it = buffer_->events.find(job_id);
  if (it != buffer_->events.end() && !it->second.empty()) {
    last = std::max(last, it->second.rbegin()->first);
  }
  return last;
}

absl::StatusOr<std::vector<JobEvent>> JobStore::ReadEvents(const std::string& job_id,
                                                           int64_t after_seq, int limit,
                                                           bool include_logs) {
  absl::MutexLock lock(&mu_);
  std::vector<JobEvent> stored;
  {
    VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kSelectEvents));
    VMAE_RETURN_IF_ERROR(stmt->BindAll(job_id, after_seq, include_logs ? 1 : 0,
                                       limit > 0 ? static_cast<int64_t>(limit) : int64_t{-1}));
    VMAE_ASSIGN_OR_RETURN(stored, ReadEventRows(*stmt));
  }
  std::vector<const JobEvent*> buffered;
  auto it = buffer_->events.find(job_id);
  if (it != buffer_->events.end()) {
    for (auto e = it->second.upper_bound(after_seq); e != it->second.end(); ++e) {
      if (include_logs || EventKind(e->second) != kKindLog) {
        buffered.push_back(&e->second);
      }
    }
  }
  return MergeEvents(std::move(stored), buffered, limit);
}

absl::StatusOr<std::vector<LogLine>> JobStore::ReadLogs(const std::string& job_id, int rank,
                                                        int attempt, int64_t after_seq,
                                                        int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<JobEvent> stored;
  {
    VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kSelectLogs));
    VMAE_RETURN_IF_ERROR(stmt->BindAll(job_id, after_seq, rank, rank, attempt, attempt,
                                       limit > 0 ? static_cast<int64_t>(limit) : int64_t{-1}));
    VMAE_ASSIGN_OR_RETURN(stored, ReadEventRows(*stmt));
  }
  std::vector<const JobEvent*> buffered;
  auto it = buffer_->events.find(job_id);
  if (it != buffer_->events.end()) {
    for (auto e = it->second.upper_bound(after_seq); e != it->second.end(); ++e) {
      const JobEvent& event = e->second;
      if (EventKind(event) != kKindLog) {
        continue;
      }
      if ((rank < 0 || event.log().rank() == rank) &&
          (attempt == 0 || event.log().attempt() == attempt)) {
        buffered.push_back(&event);
      }
    }
  }
  std::vector<JobEvent> events = MergeEvents(std::move(stored), buffered, limit);
  std::vector<LogLine> lines;
  lines.reserve(events.size());
  for (JobEvent& event : events) {
    LogLine line = std::move(*event.mutable_log());
    line.set_seq(event.seq());
    if (!line.has_time() && event.has_time()) {
      *line.mutable_time() = event.time();
    }
    lines.push_back(std::move(line));
  }
  return lines;
}

// ---- Metrics ----------------------------------------------------------------

absl::StatusOr<std::vector<MetricPoint>> JobStore::ReadMetrics(const std::string& job_id,
                                                               const std::string& name,
                                                               int64_t start_step,
                                                               int64_t end_step, int max_points) {
  const int64_t last_step = end_step > 0 ? end_step : std::numeric_limits<int64_t>::max();
  absl::MutexLock lock(&mu_);
  if (start_step > last_step) {
    return std::vector<MetricPoint>();
  }
  // Buffered points of this series in range, by step.
  std::vector<const MetricPoint*> pending;
  auto series = buffer_->metrics.find({job_id, name});
  if (series != buffer_->metrics.end()) {
    for (auto p = series->second.lower_bound(start_step);
         p != series->second.end() && p->first <= last_step; ++p) {
      pending.push_back(&p->second);
    }
  }

  // n: the number of distinct steps in range, stored or buffered.
  int64_t n = 0;
  {
    VMAE_ASSIGN_OR_RETURN(ScopedStatement count, db_->Cached(kCountMetrics));
    VMAE_RETURN_IF_ERROR(count->BindAll(job_id, name, start_step, last_step));
    VMAE_ASSIGN_OR_RETURN(bool row, count->Step());
    n = row ? count->ColumnInt64(0) : 0;
  }
  for (const MetricPoint* point : pending) {
    VMAE_ASSIGN_OR_RETURN(ScopedStatement has, db_->Cached(kHasMetric));
    VMAE_RETURN_IF_ERROR(has->BindAll(job_id, name, point->step()));
    VMAE_ASSIGN_OR_RETURN(bool row, has->Step());
    if (!row || has->ColumnInt64(0) == 0) {
      ++n;
    }
  }

  // The downsampling rule (documented in job_store.h): with n > max_points,
  // keep positions 0, k, 2k, ... for k = ceil(n / max_points), and n - 1.
  int64_t k = 1;
  if (max_points > 0 && n > max_points) {
    k = (n + max_points - 1) / max_points;
  }
  std::vector<MetricPoint> result;
  result.reserve(static_cast<size_t>(std::min<int64_t>(n / k + 2, 1 << 20)));
  auto keep = [&](int64_t index) { return index % k == 0 || index == n - 1; };

  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kSelectMetrics));
  VMAE_RETURN_IF_ERROR(stmt->BindAll(job_id, name, start_step, last_step));
  int64_t index = 0;
  size_t j = 0;
  // Merge the stored rows with `pending` by step; a buffered point replaces
  // a stored one of the same step.
  VMAE_ASSIGN_OR_RETURN(bool has_row, stmt->Step());
  while (has_row || j < pending.size()) {
    int64_t stored_step = has_row ? stmt->ColumnInt64(0) : 0;
    if (has_row && (j == pending.size() || stored_step < pending[j]->step())) {
      if (keep(index)) {
        MetricPoint point;
        point.set_name(name);
        point.set_step(stored_step);
        point.set_value(stmt->ColumnDouble(1));
        SetMillis(stmt->ColumnInt64(2), point.mutable_time());
        result.push_back(std::move(point));
      }
      VMAE_ASSIGN_OR_RETURN(has_row, stmt->Step());
    } else {
      if (has_row && stored_step == pending[j]->step()) {
        VMAE_ASSIGN_OR_RETURN(has_row, stmt->Step());
      }
      if (keep(index)) {
        result.push_back(*pending[j]);
      }
      ++j;
    }
    ++index;
  }
  return result;
}

// ---- Checkpoints ------------------------------------------------------------

absl::Status JobStore::UpsertCheckpoint(const CheckpointRecord& record) {
  const CheckpointInfo& info = record.info;
  if (info.id().empty()) {
    return absl::InvalidArgumentError("UpsertCheckpoint: checkpoint has no id");
  }
  CheckpointInfo stored = info;
  stored.clear_pinned();  // derived from the pins table on read.
  VMAE_ASSIGN_OR_RETURN(std::string blob, Serialize(stored, "checkpoint " + info.id()));
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kUpsertCheckpoint));
  VMAE_RETURN_IF_ERROR(stmt->BindAll(info.id(), info.job_id(), info.step()));
  // NULL, not '', when there is no upload, so UNIQUE(upload_id) ignores it.
  if (record.upload_id.empty()) {
    VMAE_RETURN_IF_ERROR(stmt->BindNull(4));
  } else {
    VMAE_RETURN_IF_ERROR(stmt->Bind(4, record.upload_id));
  }
  VMAE_RETURN_IF_ERROR(stmt->Bind(5, record.committed ? 1 : 0));
  VMAE_RETURN_IF_ERROR(stmt->Bind(6, record.deleting ? 1 : 0));
  VMAE_RETURN_IF_ERROR(stmt->Bind(7, Blob{blob}));
  return WithContext(stmt->Run(), absl::StrCat("writing checkpoint ", info.id()));
}

absl::StatusOr<std::optional<CheckpointRecord>> JobStore::GetCheckpoint(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return ReadOneCheckpoint(*db_, kGetCheckpoint, id);
}

absl::StatusOr<std::optional<CheckpointRecord>> JobStore::GetCheckpointByUpload(
    const std::string& upload_id) {
  if (upload_id.empty()) {
    return std::optional<CheckpointRecord>();
  }
  absl::MutexLock lock(&mu_);
  return ReadOneCheckpoint(*db_, kGetCheckpointByUpload, upload_id);
}

absl::StatusOr<std::vector<CheckpointRecord>> JobStore::ListCheckpoints(const std::string& job_id,
                                                                        bool include_pending) {
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kListCheckpoints));
  VMAE_RETURN_IF_ERROR(stmt->BindAll(job_id, include_pending ? 1 : 0));
  std::vector<CheckpointRecord> records;
  while (true) {
    VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
    if (!row) {
      break;
    }
    VMAE_ASSIGN_OR_RETURN(CheckpointRecord record, ReadCheckpointRow(*stmt));
    records.push_back(std::move(record));
  }
  return records;
}

absl::Status JobStore::DeleteCheckpointRow(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return RunWrite(*db_, kDeleteCheckpoint, absl::StrCat("deleting checkpoint ", id), id);
}

absl::Status JobStore::Pin(const std::string& checkpoint_id, const std::string& by_job_id) {
  absl::MutexLock lock(&mu_);
  return RunWrite(*db_, kPin, absl::StrCat("pinning checkpoint ", checkpoint_id), checkpoint_id,
                  by_job_id);
}

absl::Status JobStore::UnpinAllBy(const std::string& by_job_id) {
  absl::MutexLock lock(&mu_);
  return RunWrite(*db_, kUnpinAllBy, absl::StrCat("unpinning checkpoints of job ", by_job_id),
                  by_job_id);
}

absl::StatusOr<bool> JobStore::IsPinned(const std::string& checkpoint_id) {
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kIsPinned));
  VMAE_RETURN_IF_ERROR(stmt->Bind(1, checkpoint_id));
  VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  return row && stmt->ColumnInt64(0) != 0;
}

// ---- Key-value store --------------------------------------------------------

absl::Status JobStore::KvSet(const std::string& job_id, int attempt, const std::string& key,
                             const std::string& value) {
  absl::MutexLock lock(&mu_);
  return RunWrite(*db_, kKvSet, absl::StrCat("kv set ", job_id, "/", attempt, "/", key), job_id,
                  attempt, key, Blob{value});
}

absl::StatusOr<std::optional<std::string>> JobStore::KvGet(const std::string& job_id,
                                                           int attempt,
                                                           const std::string& key) {
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kKvGet));
  VMAE_RETURN_IF_ERROR(stmt->BindAll(job_id, attempt, key));
  VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(stmt->ColumnBlob(0));
}

absl::Status JobStore::KvDropOlderAttempts(const std::string& job_id, int keep_attempt) {
  absl::MutexLock lock(&mu_);
  return RunWrite(*db_, kKvDropOlder, absl::StrCat("kv drop of job ", job_id), job_id,
                  keep_attempt);
}

// ---- Counters ---------------------------------------------------------------

absl::StatusOr<int64_t> JobStore::NextCounter(const std::string& name) {
  absl::MutexLock lock(&mu_);
  VMAE_ASSIGN_OR_RETURN(ScopedStatement stmt, db_->Cached(kNextCounter));
  VMAE_RETURN_IF_ERROR(stmt->Bind(1, name));
  VMAE_ASSIGN_OR_RETURN(bool row, stmt->Step());
  if (!row) {
    return absl::InternalError(absl::StrCat("counter ", name, ": no value returned"));
  }
  int64_t value = stmt->ColumnInt64(0);
  // Run to completion so the autocommit transaction ends here.
  VMAE_RETURN_IF_ERROR(WithContext(stmt->Run(), absl::StrCat("counter ", name)));
  return value;
}

}  // namespace vmae::server
