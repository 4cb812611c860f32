// Ordered background work of one attempt on its own thread: checkpoint
// uploads, and the reports that must follow them (JobDone waits for the
// uploads; a rank's exit is reported after its checkpoint landed, so a
// pausing job is released with its checkpoint). Thread-safe.
#ifndef VMAE_WORKER_AGENT_TASK_QUEUE_H_
#define VMAE_WORKER_AGENT_TASK_QUEUE_H_

#include <deque>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace vmae::worker {

class TaskQueue {
 public:
  TaskQueue();
  ~TaskQueue();  // runs what is queued (tasks check their own abort flags), then joins

  void Post(std::function<void()> task);
  // Nothing queued or running.
  bool Idle();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_TASK_QUEUE_H_
