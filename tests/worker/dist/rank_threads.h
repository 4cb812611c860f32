// Runs the ranks of a process group as threads of the test process, each
// with its own ProcessGroup over 127.0.0.1: rank 0 listens on an ephemeral
// port and reports it through on_listening; the others wait for it.
#ifndef VMAE_TESTS_WORKER_DIST_RANK_THREADS_H_
#define VMAE_TESTS_WORKER_DIST_RANK_THREADS_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "worker/dist/process_group.h"

namespace vmae::dist::testing {

// Long enough for a loaded 2-core machine, short enough that a broken test
// fails instead of hanging.
inline constexpr std::chrono::milliseconds kTestTimeout{15000};

inline GroupOptions LocalOptions(int rank, int world, std::chrono::milliseconds timeout) {
  GroupOptions o;
  o.rank = rank;
  o.world_size = world;
  o.store_host = "127.0.0.1";
  o.timeout = timeout;
  return o;
}

// Calls body(group) on `world` threads, one rank each, and joins them.
// A rank that cannot create its group records a test failure and skips its
// body (its peers then fail by time-out rather than hang).
inline void RunRanks(int world, std::chrono::milliseconds timeout,
                     const std::function<void(ProcessGroup&)>& body) {
  std::promise<int> port_promise;
  std::shared_future<int> port = port_promise.get_future().share();
  std::atomic<bool> port_set{false};
  auto publish = [&](int p) {
    if (!port_set.exchange(true)) {
      port_promise.set_value(p);
    }
  };
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      GroupOptions o = LocalOptions(rank, world, timeout);
      if (rank > 0) {
        o.store_port = port.get();
        if (o.store_port <= 0) {
          return;  // rank 0 failed
        }
      }
      absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Create(o, publish);
      if (rank == 0 && !group.ok()) {
        publish(-1);
      }
      if (!group.ok()) {
        ADD_FAILURE() << "rank " << rank << ": " << group.status();
        return;
      }
      EXPECT_EQ((*group)->rank(), rank);
      EXPECT_EQ((*group)->world_size(), world);
      body(**group);
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
}

}  // namespace vmae::dist::testing

#endif  // VMAE_TESTS_WORKER_DIST_RANK_THREADS_H_
