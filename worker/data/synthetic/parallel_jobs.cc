#include "worker/data/synthetic/parallel_jobs.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace vmae::synthetic {

void RunParallel(int count, int threads, const std::function<void(int)>& job,
                 const ProgressFn& progress) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  threads = std::clamp(threads, 1, std::max(count, 1));
  std::atomic<int> next{0};
  std::mutex progress_mu;
  int done = 0;  // guarded by progress_mu
  auto work = [&] {
    for (int i = next++; i < count; i = next++) {
      job(i);
      std::lock_guard<std::mutex> lock(progress_mu);
      ++done;
      if (progress) progress(done, count);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();  // the calling thread takes a share too
  for (std::thread& t : pool) t.join();
}

ProgressFn TerminalProgress(std::string label) {
  if (!isatty(STDERR_FILENO)) return nullptr;
  return [label = std::move(label)](int done, int total) {
    std::fprintf(stderr, "\r%s: %d/%d videos", label.c_str(), done, total);
    if (done == total) std::fprintf(stderr, "\n");
  };
}

}  // namespace vmae::synthetic
