// The node agent: turns the coordinator's assignments into trainer
// processes (one per rank and attempt), relays their reports, and carries
// out stop orders. See docs/agent.md and docs/trainer-protocol.md.
//
// Threads: the link's session thread calls OnMessage and Running; one
// thread per rank runs its trainer; one TaskQueue thread per attempt
// uploads checkpoints. Thread-safe.
#ifndef VMAE_WORKER_AGENT_AGENT_H_
#define VMAE_WORKER_AGENT_AGENT_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "vmae/v1/worker_service.pb.h"
#include "worker/agent/agent_config.h"
#include "worker/agent/coordinator_link.h"
#include "worker/agent/task_queue.h"
#include "worker/agent/trainer_events.h"
#include "worker/agent/trainer_process.h"

namespace vmae::worker {

class Agent {
 public:
  // config.work_dir should be absolute (main makes it so).
  explicit Agent(AgentConfig config);
  ~Agent();

  void Start();
  // Kills every trainer, closes the session, joins every thread.
  void Shutdown();

  // The trainer command line for one rank (exposed for tests).
  std::vector<std::string> TrainerArgs(const vmae::v1::Assignment& a, int rank, int slot,
                                       const std::string& dir, const std::string& store,
                                       const std::string& resume_dir,
                                       const std::string& init_dir) const;

 private:
  struct RankState {
    int rank = 0;
    int slot = 0;
    std::string dir;
    std::thread thread;
    std::atomic<bool> finished{false};
    std::atomic<bool> exited{false};   // its trainer is gone (ends the KvSet retry)
    absl::Mutex mu;
    TrainerProcess* process ABSL_GUARDED_BY(mu) = nullptr;  // while running
    bool killed_by_agent ABSL_GUARDED_BY(mu) = false;
  };
  struct AttemptState {
    vmae::v1::Assignment assignment;
    std::string job_id;
    int attempt = 0;
    std::atomic<bool> stopped{false};    // kill order: start nothing more, stop waiting
    std::atomic<bool> paused{false};     // pause order: start nothing more
    std::atomic<bool> cancelled{false};  // abandon uploads
    std::atomic<int64_t> pause_kill_at_ms{0};  // steady clock; 0: none
    std::map<int, std::unique_ptr<RankState>> ranks;
    std::unique_ptr<TaskQueue> tasks = std::make_unique<TaskQueue>();
  };
  using AttemptKey = std::pair<std::string, int>;

  void OnMessage(const vmae::v1::CoordinatorMessage& m);
  void OnAssignment(const vmae::v1::Assignment& a);
  void OnStop(const vmae::v1::StopOrder& s);
  std::vector<vmae::v1::RunningRank> Running();
  // Joins and forgets attempts whose ranks ended and whose tasks are done.
  void ReapFinished();

  void RunRank(AttemptState* at, RankState* rs);
  void KillRank(RankState* rs, int sig);
  void ReportExit(AttemptState* at, int rank, const ExitSummary& s);
  void PublishStore(AttemptState* at, RankState* rs, int port);
  absl::StatusOr<std::string> FetchWithRetry(AttemptState* at, const std::string& id);
  absl::StatusOr<std::string> WaitForStore(AttemptState* at, RankState* rs);
  void Upload(AttemptState* at, const CheckpointEvent& ev);

  const AgentConfig config_;
  std::unique_ptr<CoordinatorLink> link_;
  std::atomic<bool> stopping_{false};
  absl::Mutex fetch_mu_;  // one fetch at a time: ranks of one attempt share the folder

  absl::Mutex mu_;
  std::map<AttemptKey, std::unique_ptr<AttemptState>> attempts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_AGENT_H_
