#include "server/watch_hub.h"

#include <deque>
#include <utility>

#include "common/logging.h"

namespace vmae::server {

using vmae::v1::JobEvent;

bool IsTerminal(vmae::v1::JobState state) {
  return state == vmae::v1::JOB_STATE_SUCCEEDED || state == vmae::v1::JOB_STATE_FAILED ||
         state == vmae::v1::JOB_STATE_CANCELLED;
}

namespace {
constexpr int kBacklogBatch = 512;

bool IsTerminalEvent(const JobEvent& e) {
  return e.has_state() && IsTerminal(e.state().to());
}
}  // namespace

// One WatchJob stream. Lives until OnDone.
class WatchReactor : public grpc::ServerWriteReactor<JobEvent> {
 public:
  WatchReactor(WatchHub* hub, const vmae::v1::WatchJobRequest& req, const vmae::v1::Job& snapshot)
      : hub_(hub),
        job_id_(req.job_id()),
        include_logs_(req.include_logs()),
        last_sent_(req.after_seq()),
        job_terminal_(IsTerminal(snapshot.state())) {
    // Register before reading the backlog: an event published in between is
    // queued here and de-duplicated by seq, so none falls in the gap.
    hub_->Register(job_id_, this);
    absl::MutexLock lock(&mu_);
    current_.mutable_snapshot()->CopyFrom(snapshot);
    current_.set_job_id(job_id_);
    writing_ = true;
    StartWrite(&current_);
  }

  // Called by the hub with hub_->mu_ held.
  void Deliver(const JobEvent& e) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (e.has_log() && !include_logs_) return;
    if (queue_.size() >= hub_->max_queue_) {
      // Slow reader: forget the queue and catch up from the store later.
      queue_.clear();
      need_backlog_ = true;
      return;
    }
    queue_.push_back(e);
    if (!writing_ && !need_backlog_) PumpLocked();
  }

  void Close() {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "coordinator shutting down"));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
      return;
    }
    PumpLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    hub_->Unregister(job_id_, this);
    delete this;
  }

 private:
  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    queue_.clear();
    Finish(status);
  }

  // Starts the next write, reading the store first when behind.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || writing_) return;
    if (need_backlog_) {
      auto backlog = hub_->reader_(job_id_, last_sent_, kBacklogBatch, include_logs_);
      if (!backlog.ok()) {
        FinishLocked(grpc::Status(grpc::StatusCode::INTERNAL,
                                  std::string(backlog.status().message())));
        return;
      }
      need_backlog_ = static_cast<int>(backlog->size()) >= kBacklogBatch;
      // Backlog first, then queued live events; duplicates fall out below.
      std::deque<JobEvent> merged(backlog->begin(), backlog->end());
      for (auto& e : queue_) merged.push_back(std::move(e));
      queue_.swap(merged);
    }
    while (!queue_.empty() && queue_.front().seq() <= last_sent_) queue_.pop_front();
    if (queue_.empty()) {
      // Everything up to now is sent: a job that has ended ends the stream.
      if (!need_backlog_ && (terminal_sent_ || job_terminal_)) FinishLocked(grpc::Status::OK);
      return;
    }
    current_ = std::move(queue_.front());
    queue_.pop_front();
    last_sent_ = current_.seq();
    if (IsTerminalEvent(current_)) terminal_sent_ = true;
    writing_ = true;
    StartWrite(&current_);
  }

  WatchHub* const hub_;
  const std::string job_id_;
  const bool include_logs_;
  absl::Mutex mu_;
  int64_t last_sent_ ABSL_GUARDED_BY(mu_);
  const bool job_terminal_;
  std::deque<JobEvent> queue_ ABSL_GUARDED_BY(mu_);
  JobEvent current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool need_backlog_ ABSL_GUARDED_BY(mu_) = true;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool terminal_sent_ ABSL_GUARDED_BY(mu_) = false;
};

WatchHub::~WatchHub() = default;

grpc::ServerWriteReactor<JobEvent>* WatchHub::Start(grpc::CallbackServerContext* ctx,
                                                    const vmae::v1::WatchJobRequest& request,
                                                    const vmae::v1::Job& snapshot) {
  (void)ctx;
  return new WatchReactor(this, request, snapshot);
}

void WatchHub::Publish(const JobEvent& event) {
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(event.job_id());
  if (it == watchers_.end()) return;
  for (WatchReactor* r : it->second) r->Deliver(event);
}

void WatchHub::CloseAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [job, set] : watchers_) {
    for (WatchReactor* r : set) r->Close();
  }
}

int WatchHub::WatcherCount() const {
  absl::MutexLock lock(&mu_);
  int n = 0;
  for (const auto& [job, set] : watchers_) n += static_cast<int>(set.size());
  return n;
}

void WatchHub::Register(const std::string& job_id, WatchReactor* r) {
  absl::MutexLock lock(&mu_);
  watchers_[job_id].insert(r);
}

void WatchHub::Unregister(const std::string& job_id, WatchReactor* r) {
  absl::MutexLock lock(&mu_);
  auto it = watchers_.find(job_id);
  if (it == watchers_.end()) return;
  it->second.erase(r);
  if (it->second.empty()) watchers_.erase(it);
}

}  // namespace vmae::server
