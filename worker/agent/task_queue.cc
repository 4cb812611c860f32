#include "worker/agent/task_queue.h"

namespace vmae::worker {

TaskQueue::TaskQueue() : thread_([this] { Loop(); }) {}

TaskQueue::~TaskQueue() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  thread_.join();
}

void TaskQueue::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

bool TaskQueue::Idle() {
  absl::MutexLock lock(&mu_);
  return tasks_.empty() && !busy_;
}

void TaskQueue::Loop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return closing_ || !tasks_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (tasks_.empty()) return;  // closing and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
      busy_ = true;
    }
    task();
    absl::MutexLock lock(&mu_);
    busy_ = false;
  }
}

}  // namespace vmae::worker
