// Coordinator: the control plane's state machine, behind both gRPC services.
//
// Owns the in-memory view of jobs and agents, and keeps SQLite (JobStore)
// as the durable copy: job creation and every state transition commit
// before the call that caused them returns; progress, metrics and logs go
// through the store's group commit. Leases, heartbeats and slot use live in
// memory only and are rebuilt from agents' heartbeats after a restart.
//
// Handlers call the public methods and convert the Status; the methods never
// block on the network. Thread-safe: one mutex guards the view; the store,
// the watch hub and the metrics have their own.
#ifndef VMAE_SERVER_COORDINATOR_H_
#define VMAE_SERVER_COORDINATOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/auth.h"
#include "server/checkpoints/checkpoint_files.h"
#include "server/metrics.h"
#include "server/store/job_store.h"
#include "server/watch_hub.h"
#include "vmae/v1/job_service.pb.h"
#include "vmae/v1/worker_service.pb.h"

namespace vmae::server {

struct CoordinatorOptions {
  /// Folder of the SQLite file and the checkpoint store. Required.
  std::string state_dir;
  /// Data roots job paths must lie under (empty: any absolute path).
  std::vector<std::string> data_roots;
  /// Agents heartbeat this often. Default 2 s.
  int64_t heartbeat_ms = 2000;
  /// An agent silent this long is lost. Default 15 s.
  int64_t lease_ms = 15000;
  /// Group-commit period for metrics, progress and logs. Default 250 ms.
  int64_t flush_ms = 250;
  /// Progress deadline floor: a running job with no step for
  /// max(10 x p99 step time, this) restarts. Default 120 s.
  int64_t progress_deadline_ms = 120000;
  /// Longer limit for the first step of an attempt (start-up, first
  /// collective, data warm-up). Default 600 s.
  int64_t first_step_deadline_ms = 600000;
  /// Time a pausing job gets to checkpoint before its ranks are killed.
  /// Default 120 s.
  int64_t pause_grace_ms = 120000;
  /// Time cancelling ranks get to exit before the job is CANCELLED anyway.
  /// Default 30 s.
  int64_t cancel_grace_ms = 30000;
  /// Clock for every time-out (tests inject a FakeClock).
  Clock* clock = Clock::Real();
  /// Run the background loop (leases, deadlines, flush). Tests that drive
  /// Tick() by hand turn it off.
  bool background = true;
};

class Coordinator {
 public:
  // Opens the store (refusing a corrupt or foreign file), loads the jobs and
  // starts the background loop.
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(CoordinatorOptions options,
                                                             CoordinatorMetrics* metrics);
  ~Coordinator();

  // ---- JobService --------------------------------------------------------
  absl::StatusOr<vmae::v1::Job> SubmitJob(const Principal& who,
                                          const vmae::v1::SubmitJobRequest& req);
  absl::StatusOr<vmae::v1::GetJobResponse> GetJob(const Principal& who,
                                                  const vmae::v1::GetJobRequest& req);
  absl::StatusOr<vmae::v1::ListJobsResponse> ListJobs(const Principal& who,
                                                      const vmae::v1::ListJobsRequest& req);
  absl::StatusOr<vmae::v1::Job> CancelJob(const Principal& who, const vmae::v1::JobRef& ref);
  absl::StatusOr<vmae::v1::Job> PauseJob(const Principal& who, const vmae::v1::JobRef& ref);
  absl::StatusOr<vmae::v1::Job> ResumeJob(const Principal& who, const vmae::v1::JobRef& ref);
  absl::StatusOr<vmae::v1::GetMetricsResponse> GetMetrics(const Principal& who,
                                                          const vmae::v1::GetMetricsRequest& req);
  absl::StatusOr<vmae::v1::ListCheckpointsResponse> ListCheckpoints(const Principal& who,
                                                                    const std::string& job_id);
  // Resolves "latest", "best", "" or an id to a committed checkpoint.
  absl::StatusOr<vmae::v1::CheckpointInfo> ResolveCheckpoint(const std::string& job_id,
                                                             const std::string& which);
  // A file ready to stream: what the client is told, and where it lies.
  struct FileToSend {
    vmae::v1::CheckpointFile file;
    std::string path;
  };
  // The files of a checkpoint in the requested format. Hugging Face exports
  // are made once per checkpoint (under state_dir/exports) and reused.
  absl::StatusOr<std::vector<FileToSend>> FilesForDownload(const vmae::v1::CheckpointInfo& info,
                                                           vmae::v1::CheckpointFormat format);
  // Path of one file of a committed checkpoint.
  std::string CheckpointFilePath(const vmae::v1::CheckpointInfo& info,
                                 const std::string& file) const;
  absl::StatusOr<std::vector<vmae::v1::LogLine>> ReadLogs(const vmae::v1::StreamLogsRequest& req,
                                                          int64_t after_seq, int limit);
  vmae::v1::ListWorkersResponse ListWorkers();
  // The job now (NOT_FOUND otherwise); used to start a watch.
  absl::StatusOr<vmae::v1::Job> Snapshot(const std::string& job_id);
  bool IsJobTerminal(const std::string& job_id);
  WatchHub* hub() { return hub_.get(); }

  // ---- WorkerService -----------------------------------------------------
  absl::StatusOr<vmae::v1::RegisterResponse> Register(const vmae::v1::RegisterRequest& req);

  // Outbound queue of one Session stream; the handler's writer drains it.
  class AgentSession {
   public:
    void Send(vmae::v1::CoordinatorMessage m);
    // Waits for the next message; false once closed and drained.
    bool Next(vmae::v1::CoordinatorMessage* out, absl::Duration timeout);
    void Close();
    bool closed();

   private:
    absl::Mutex mu_;
    std::deque<vmae::v1::CoordinatorMessage> queue_ ABSL_GUARDED_BY(mu_);
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
  };
  // Binds a stream to a registered agent; ABORTED for a stale epoch.
  absl::StatusOr<std::shared_ptr<AgentSession>> OpenSession(const vmae::v1::SessionHello& hello);
  absl::Status OnAgentMessage(const std::string& agent_id, int64_t epoch,
                              const vmae::v1::AgentMessage& msg);
  void CloseSession(const std::string& agent_id, const std::shared_ptr<AgentSession>& s);

  absl::Status KvSet(const vmae::v1::KvSetRequest& req);
  absl::StatusOr<std::string> KvGet(const vmae::v1::KvGetRequest& req);

  absl::StatusOr<vmae::v1::UploadState> BeginUpload(
      const vmae::v1::BeginCheckpointUploadRequest& req);
  // Appends one chunk (offset must match what is held).
  absl::Status UploadChunk(const vmae::v1::UploadChunk& chunk);
  // Commits the upload when every file is complete; returns its state.
  absl::StatusOr<vmae::v1::UploadState> FinishUpload(const std::string& upload_id);
  // A checkpoint an agent may fetch (for resume or init_from).
  absl::StatusOr<vmae::v1::CheckpointInfo> CheckpointForFetch(const std::string& id);

  // ---- Time --------------------------------------------------------------
  // Runs one pass of the background loop: leases, deadlines, scheduling.
  void Tick();
  // Writes buffered metrics and progress now.
  absl::Status Flush();
  // Stops the loop and flushes (graceful shutdown).
  void Shutdown();

 private:
  struct JobEntry;
  struct AgentEntry;

  Coordinator(CoordinatorOptions options, std::unique_ptr<JobStore> store,
              CoordinatorMetrics* metrics);

  // Holds mu_ exclusively. On release it hands the events published while
  // it was held to the watch hub, in sequence order but outside mu_, so a
  // fan-out to a thousand streams never stalls the other calls.
  class ABSL_SCOPED_LOCKABLE WriteLock {
   public:
    explicit WriteLock(Coordinator* c) ABSL_EXCLUSIVE_LOCK_FUNCTION(c->mu_) : c_(c) {
      c_->mu_.Lock();
    }
    ~WriteLock() ABSL_UNLOCK_FUNCTION() {
      c_->mu_.Unlock();
      c_->DrainOutbox();
    }
    WriteLock(const WriteLock&) = delete;
    WriteLock& operator=(const WriteLock&) = delete;

   private:
    Coordinator* const c_;
  };
  // Queues an event (already stored or buffered) for the watch hub.
  void PublishLocked(vmae::v1::JobEvent ev) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainOutbox() ABSL_LOCKS_EXCLUDED(mu_);
  // Asks the background loop for a scheduling pass: a burst of submits or
  // registrations costs one pass, not one each.
  void RequestSchedule() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Load();
  void Loop();

  JobEntry* FindLocked(const std::string& id) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<JobEntry*> FindOrNotFound(const std::string& id) ABSL_SHARED_LOCKS_REQUIRED(mu_);
  vmae::v1::JobEvent NewEventLocked(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status TransitionLocked(JobEntry& e, vmae::v1::JobState to, const std::string& reason,
                                vmae::v1::FailureKind kind = vmae::v1::FAILURE_KIND_UNSPECIFIED)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LogJobLocked(JobEntry& e, const std::string& text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PublishBufferedLocked(JobEntry& e, vmae::v1::JobEvent ev) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void ScheduleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StartAttemptLocked(JobEntry& e, const std::vector<vmae::v1::RankAssignment>& ranks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopRanksLocked(JobEntry& e, vmae::v1::StopReason reason, int grace_ms)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSlotsLocked(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RestartLocked(JobEntry& e, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailLocked(JobEntry& e, vmae::v1::FailureKind kind, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishPauseLocked(JobEntry& e, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnTerminalLocked(JobEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckAgentsLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckJobsLocked(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void OnHeartbeatLocked(AgentEntry& a, const vmae::v1::Heartbeat& hb)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnStepLocked(const vmae::v1::StepReport& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnLogsLocked(const vmae::v1::LogBatch& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnRankExitLocked(const vmae::v1::RankExit& x) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnJobDoneLocked(const vmae::v1::JobDone& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<std::string> ResolveJobRefLocked(const std::string& ref, bool* is_job_ref)
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::Status GarbageCollect(const std::string& job_id, int keep_last);
  std::vector<vmae::v1::CheckpointInfo> DecorateCheckpoints(std::vector<CheckpointRecord> rows);

  const CoordinatorOptions options_;
  Clock* const clock_;
  std::unique_ptr<JobStore> store_;
  CheckpointFiles files_;
  CoordinatorMetrics* const metrics_;
  std::unique_ptr<WatchHub> hub_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<JobEntry>> jobs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> idempotency_ ABSL_GUARDED_BY(mu_);  // owner\0key -> id
  std::map<std::string, std::unique_ptr<AgentEntry>> agents_ ABSL_GUARDED_BY(mu_);
  int64_t submit_counter_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reconcile_until_ms_ ABSL_GUARDED_BY(mu_) = 0;
  bool schedule_dirty_ ABSL_GUARDED_BY(mu_) = true;

  // Events waiting for the hub, in the order their seqs were assigned.
  absl::Mutex outbox_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::deque<vmae::v1::JobEvent> outbox_ ABSL_GUARDED_BY(outbox_mu_);
  absl::Mutex drain_mu_;  // one drainer at a time keeps the order

  // Wakes the loop early for a scheduling pass.
  absl::Mutex wake_mu_;
  bool wake_ ABSL_GUARDED_BY(wake_mu_) = false;

  absl::Mutex kv_mu_;
  absl::CondVar kv_cv_;
  absl::Mutex upload_mu_;  // serialises chunk appends and commits

  absl::Notification stop_;
  std::thread loop_;
};

// The job's state name as users see it ("RUNNING").
std::string StateName(vmae::v1::JobState s);
// Whether the lifecycle allows from -> to.
bool IsAllowedTransition(vmae::v1::JobState from, vmae::v1::JobState to);

}  // namespace vmae::server

#endif  // VMAE_SERVER_COORDINATOR_H_
