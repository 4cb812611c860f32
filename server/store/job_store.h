// JobStore: the coordinator's durable state in one SQLite file.
//
// Two write paths, as the design asks:
//  - Synchronous: job creation and every job state transition commit before
//    the call returns (the caller acknowledges only after that).
//  - Group commit: metrics, progress (step/loss on the job row), log lines
//    and their events are buffered in memory and written in one transaction
//    by Flush(), which the coordinator calls every ~250 ms. A synchronous
//    commit flushes the buffer first, inside the same transaction, so event
//    sequence numbers reach the disk in order.
// Leases and heartbeats are never stored.
//
// Thread-safe: one mutex serialises the single writer connection; reads of
// buffered data see what has not been flushed yet.
#ifndef VMAE_SERVER_STORE_JOB_STORE_H_
#define VMAE_SERVER_STORE_JOB_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "vmae/v1/types.pb.h"

namespace vmae::server {

class Db;  // server/store/sqlite_db.h

// A checkpoint row. `committed` is false while its upload is in progress
// (invisible to users); `deleting` marks rows whose files GC is removing.
struct CheckpointRecord {
  vmae::v1::CheckpointInfo info;
  std::string upload_id;
  bool committed = false;
  bool deleting = false;
};

class JobStore {
 public:
  // Opens (creating if absent) `path`, checks integrity (PRAGMA quick_check)
  // and applies migrations. A file that is not a vmae database, is corrupt,
  // unreadable, or was written by a newer schema version is an error
  // (FAILED_PRECONDITION / DATA_LOSS naming the path); nothing is
  // overwritten in that case.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  // Does not flush: call Flush() on an orderly shutdown. What is still
  // buffered is dropped, exactly as in a crash (tests rely on this).
  ~JobStore();

  // Schema version after migrations.
  int SchemaVersion() const;

  // ---- Jobs ----------------------------------------------------------------
  // Every job, oldest first (the coordinator caches them in memory at start).
  absl::StatusOr<std::vector<vmae::v1::Job>> LoadJobs();

  // Inserts a new job and its first event (state QUEUED) in one synchronous
  // transaction. If (owner, idempotency_key) already exists (key non-empty),
  // nothing is written and the existing job's id is returned in
  // `*existing_id` with OK status.
  absl::Status InsertJob(const vmae::v1::Job& job, const std::string& idempotency_key,
                         const vmae::v1::JobEvent& created_event, std::string* existing_id);

  // Finds a job id by (owner, idempotency key); empty when none.
  absl::StatusOr<std::string> FindByIdempotencyKey(const std::string& owner,
                                                   const std::string& key);

  // Synchronous: writes the job row and the given events (state changes) after
  // flushing the buffer, in one transaction.
  absl::Status CommitJob(const vmae::v1::Job& job, const std::vector<vmae::v1::JobEvent>& events);

  // Buffered: the job row (progress fields), events and metric points go to
  // the buffer; Flush() writes them.
  void BufferJob(const vmae::v1::Job& job);
  void BufferEvent(const vmae::v1::JobEvent& event);
  void BufferMetric(const std::string& job_id, const vmae::v1::MetricPoint& point);
  // Writes the buffer in one transaction. Returns the number of rows written
  // (0, without a transaction, when the buffer is empty). On failure the
  // buffer is kept whole for the next attempt. Within the buffer the latest
  // job row per job, event per (job, seq) and point per (job, name, step)
  // wins, and so does the buffer over what is stored.
  absl::StatusOr<int> Flush();

  // Highest event seq stored or buffered for the job (0 when none).
  absl::StatusOr<int64_t> LastEventSeq(const std::string& job_id);

  // Events with seq > after_seq, oldest first, at most `limit` (<= 0: no
  // limit), including buffered ones. With logs=false, log events are skipped.
  absl::StatusOr<std::vector<vmae::v1::JobEvent>> ReadEvents(const std::string& job_id,
                                                             int64_t after_seq, int limit,
                                                             bool include_logs);

  // Log lines (from log events) for a job, filtered by rank (-1 any) and
  // attempt (0 any), with seq > after_seq, oldest first, at most limit
  // (<= 0: no limit), including buffered ones. LogLine.seq is the event's.
  absl::StatusOr<std::vector<vmae::v1::LogLine>> ReadLogs(const std::string& job_id, int rank,
                                                          int attempt, int64_t after_seq,
                                                          int limit);

  // One metric series (stored and buffered), steps in [start_step, end_step]
  // (end <= 0: no bound), ordered by step. Downsampling: when n points match
  // and n > max_points > 0, keep the points at positions i = 0, k, 2k, ...
  // with k = ceil(n / max_points), plus always the last point (position
  // n - 1), so at most max_points + 1 come back. E.g. steps 0..99 with
  // max_points 10: steps 0, 10, ..., 90 and 99. max_points <= 0: all points.
  absl::StatusOr<std::vector<vmae::v1::MetricPoint>> ReadMetrics(const std::string& job_id,
                                                                 const std::string& name,
                                                                 int64_t start_step,
                                                                 int64_t end_step, int max_points);

  // ---- Checkpoints ---------------------------------------------------------
  // Upsert by info.id. An upload_id already used by another checkpoint ->
  // ALREADY_EXISTS. info.pinned is not stored: reads fill it from the pins.
  absl::Status UpsertCheckpoint(const CheckpointRecord& record);
  absl::StatusOr<std::optional<CheckpointRecord>> GetCheckpoint(const std::string& id);
  absl::StatusOr<std::optional<CheckpointRecord>> GetCheckpointByUpload(
      const std::string& upload_id);
  // A job's checkpoints ordered by step. Without include_pending only what
  // users may see: committed and not being deleted. With it, every row.
  absl::StatusOr<std::vector<CheckpointRecord>> ListCheckpoints(const std::string& job_id,
                                                                bool include_pending);
  absl::Status DeleteCheckpointRow(const std::string& id);
  // Pins: a queued job's init_from keeps the checkpoint from GC.
  absl::Status Pin(const std::string& checkpoint_id, const std::string& by_job_id);
  absl::Status UnpinAllBy(const std::string& by_job_id);
  absl::StatusOr<bool> IsPinned(const std::string& checkpoint_id);

  // ---- Key-value store scoped by (job, attempt) ----------------------------
  absl::Status KvSet(const std::string& job_id, int attempt, const std::string& key,
                     const std::string& value);
  absl::StatusOr<std::optional<std::string>> KvGet(const std::string& job_id, int attempt,
                                                   const std::string& key);
  // Drops keys of attempts older than `keep_attempt`.
  absl::Status KvDropOlderAttempts(const std::string& job_id, int keep_attempt);

  // ---- Counters (persisted, monotonic across restarts) ---------------------
  // Returns the next value of a named counter (agent epochs, job ids).
  absl::StatusOr<int64_t> NextCounter(const std::string& name);

 private:
  explicit JobStore(std::unique_ptr<Db> db);
  absl::Status FlushLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes every buffered row inside the caller's open transaction; the
  // buffer is cleared by the caller only once that transaction commits.
  absl::StatusOr<int> WriteBufferLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  struct Buffer;
  mutable absl::Mutex mu_;
  std::unique_ptr<Db> db_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Buffer> buffer_ ABSL_GUARDED_BY(mu_);
  int schema_version_ = 0;
};

}  // namespace vmae::server

#endif  // VMAE_SERVER_STORE_JOB_STORE_H_
