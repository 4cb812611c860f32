// Runs independent jobs (one video each) on a few std::threads.
#ifndef VMAE_WORKER_DATA_SYNTHETIC_PARALLEL_JOBS_H_
#define VMAE_WORKER_DATA_SYNTHETIC_PARALLEL_JOBS_H_

#include <functional>
#include <string>

namespace vmae::synthetic {

// Called after each finished job with (jobs done, jobs in all); calls are
// serialized, so the callback needs no lock of its own.
using ProgressFn = std::function<void(int done, int total)>;

// A ProgressFn for command-line verbs: redraws "<label>: done/total videos"
// on stderr when stderr is a terminal; empty otherwise, so logs and pipes
// get no carriage-return clutter.
ProgressFn TerminalProgress(std::string label);

// Runs job(i) for every i in [0, count) on min(threads, count) threads
// (threads <= 0: std::thread::hardware_concurrency()), in no particular
// order, and returns when all are done. `job` must not throw and must be
// safe to call from several threads at once. `progress` may be empty.
void RunParallel(int count, int threads, const std::function<void(int)>& job,
                 const ProgressFn& progress);

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_PARALLEL_JOBS_H_
