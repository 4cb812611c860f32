#include "worker/dist/process_group.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/dist/rank_threads.h"

namespace vmae::dist {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::vmae::dist::testing::kTestTimeout;
using ::vmae::dist::testing::LocalOptions;
using ::vmae::dist::testing::RunRanks;
using ::vmae::testing::StatusIs;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A port nothing listens on: bound, read, closed.
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(ProcessGroupTest, WorldSizeOneNeedsNoNetworkAndCollectivesAreIdentity) {
  bool listened = false;
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group =
      ProcessGroup::Create(GroupOptions{}, [&](int) { listened = true; });
  ASSERT_OK(group);
  ProcessGroup& g = **group;
  EXPECT_FALSE(listened);  // no store, so nothing to publish
  EXPECT_EQ(g.rank(), 0);
  EXPECT_EQ(g.world_size(), 1);

  std::vector<at::Tensor> tensors = {torch::tensor({1.5, -2.0}, torch::kFloat64)};
  ASSERT_OK(g.AllReduceSum(tensors));
  EXPECT_TRUE(torch::equal(tensors[0], torch::tensor({1.5, -2.0}, torch::kFloat64)));
  ASSERT_OK(g.Broadcast(tensors, 0));
  absl::StatusOr<std::vector<double>> sum = g.AllReduceSum(std::vector<double>{3.0, 4.0});
  ASSERT_OK(sum);
  EXPECT_EQ(*sum, (std::vector<double>{3.0, 4.0}));
  absl::StatusOr<std::vector<double>> max = g.AllReduceMax(std::vector<double>{-1.0});
  ASSERT_OK(max);
  EXPECT_EQ(*max, (std::vector<double>{-1.0}));
  EXPECT_OK(g.Barrier());
  EXPECT_OK(g.StartAllReduceSum(torch::ones({3}))->Wait());
}

TEST(ProcessGroupTest, RejectsBadOptions) {
  GroupOptions o = LocalOptions(2, 2, kTestTimeout);
  EXPECT_THAT(ProcessGroup::Create(o, nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
  o = LocalOptions(1, 2, kTestTimeout);  // rank 1 without rank 0's port
  EXPECT_THAT(ProcessGroup::Create(o, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, "rank 0's store port"));
  if (!NcclCompiledIn()) {
    o = LocalOptions(0, 1, kTestTimeout);
    o.cuda = true;
    EXPECT_THAT(ProcessGroup::Create(o, nullptr),
                StatusIs(absl::StatusCode::kFailedPrecondition, "NCCL"));
  }
}

TEST(ProcessGroupTest, BroadcastCopiesTheRootsTensorsToEveryRank) {
  constexpr int kWorld = 3;
  constexpr int kRoot = 1;
  // What each rank starts with; the root's values are what all must end with.
  auto start_values = [](int rank) {
    at::Tensor floats = torch::arange(6, torch::kFloat32).reshape({2, 3}) + 100 * rank;
    at::Tensor ints = torch::full({4}, rank * 7, torch::kInt64);
    return std::vector<at::Tensor>{floats, ints};
  };
  const std::vector<at::Tensor> root_values = start_values(kRoot);
  RunRanks(kWorld, kTestTimeout, [&](ProcessGroup& g) {
    std::vector<at::Tensor> mine = start_values(g.rank());
    // A non-contiguous view must be written through to its base.
    at::Tensor base = mine[0].clone();
    std::vector<at::Tensor> tensors = {base.t(), mine[1]};
    ASSERT_OK(g.Broadcast(tensors, kRoot));
    EXPECT_TRUE(torch::equal(base, root_values[0])) << "rank " << g.rank();
    EXPECT_TRUE(torch::equal(tensors[1], root_values[1])) << "rank " << g.rank();
  });
}

TEST(ProcessGroupTest, AllReduceSumOfTensorsEqualsTheHandComputedSum) {
  constexpr int kWorld = 3;
  RunRanks(kWorld, kTestTimeout, [&](ProcessGroup& g) {
    const double r = g.rank();
    // Rank r holds {r+1, 2r} and {10r}; sums over r = 0, 1, 2: {6, 6}, {30}.
    std::vector<at::Tensor> tensors = {torch::tensor({r + 1, 2 * r}, torch::kFloat64),
                                       torch::tensor({static_cast<float>(10 * r)})};
    ASSERT_OK(g.AllReduceSum(tensors));
    EXPECT_TRUE(torch::equal(tensors[0], torch::tensor({6.0, 6.0}, torch::kFloat64))) << tensors[0];
    EXPECT_TRUE(torch::equal(tensors[1], torch::tensor({30.0f}))) << tensors[1];

    at::Tensor flat = torch::full({5}, r);
    ASSERT_OK(g.StartAllReduceSum(flat)->Wait());
    EXPECT_TRUE(torch::equal(flat, torch::full({5}, 3.0f))) << flat;  // 0 + 1 + 2
  });
}

TEST(ProcessGroupTest, AllReduceOfDoublesSumsAndMaxes) {
  constexpr int kWorld = 3;
  RunRanks(kWorld, kTestTimeout, [&](ProcessGroup& g) {
    const double r = g.rank();
    const std::vector<double> values = {r + 1, 10 * r, -r, 0.25};
    absl::StatusOr<std::vector<double>> sum = g.AllReduceSum(values);
    ASSERT_OK(sum);
    EXPECT_EQ(*sum, (std::vector<double>{6, 30, -3, 0.75}));
    absl::StatusOr<std::vector<double>> max = g.AllReduceMax(values);
    ASSERT_OK(max);
    EXPECT_EQ(*max, (std::vector<double>{3, 20, 0, 0.25}));
  });
}

TEST(ProcessGroupTest, BarrierWaitsForTheSlowestRank) {
  constexpr int kWorld = 3;
  constexpr auto kDelay = std::chrono::milliseconds(400);
  RunRanks(kWorld, kTestTimeout, [&](ProcessGroup& g) {
    ASSERT_OK(g.Barrier());  // everyone is up before the clock starts
    const Clock::time_point start = Clock::now();
    if (g.rank() == 2) {
      std::this_thread::sleep_for(kDelay);
    }
    ASSERT_OK(g.Barrier());
    if (g.rank() == 0) {
      EXPECT_GE(SecondsSince(start), 0.35);
    }
  });
}

TEST(ProcessGroupTest, CollectiveTimesOutWithDeadlineExceededWhenAPeerNeverJoins) {
  constexpr auto kTimeout = std::chrono::milliseconds(2000);
  std::promise<void> rank0_done;
  std::shared_future<void> done = rank0_done.get_future().share();
  RunRanks(2, kTimeout, [&](ProcessGroup& g) {
    if (g.rank() == 1) {
      // Never calls the collective; stays in the group until rank 0 gave up
      // (leaving earlier would be a closed connection, not a time-out).
      done.wait();
      return;
    }
    const Clock::time_point start = Clock::now();
    absl::StatusOr<std::vector<double>> sum = g.AllReduceSum(std::vector<double>{1.0});
    const double elapsed = SecondsSince(start);
    rank0_done.set_value();
    EXPECT_THAT(sum, StatusIs(absl::StatusCode::kDeadlineExceeded, "rank 0 of 2"));
    EXPECT_THAT(sum.status().message(), HasSubstr("2000 ms"));
    EXPECT_GE(elapsed, 1.5);
    EXPECT_LE(elapsed, 8.0);
  });
}

TEST(ProcessGroupTest, RankZeroReportsItsPortThenTimesOutWhenNobodyJoins) {
  GroupOptions o = LocalOptions(0, 2, std::chrono::milliseconds(1000));
  int reported = 0;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group =
      ProcessGroup::Create(o, [&](int port) { reported = port; });
  EXPECT_GT(reported, 0);
  EXPECT_THAT(group, StatusIs(absl::StatusCode::kDeadlineExceeded, "1 of 2 ranks"));
  EXPECT_THAT(group.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", reported)));
  EXPECT_LE(SecondsSince(start), 6.0);
}

TEST(ProcessGroupTest, RankZeroFailsAtOnceWhenItsPortIsTaken) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  GroupOptions o = LocalOptions(0, 2, kTestTimeout);
  o.store_port = port;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Create(o, nullptr);
  close(fd);
  EXPECT_THAT(group, StatusIs(absl::StatusCode::kUnavailable, absl::StrCat("127.0.0.1:", port)));
  EXPECT_LE(SecondsSince(start), 5.0);  // not the 15 s time-out
}

TEST(ProcessGroupTest, OtherRankRetriesUntilRankZeroListens) {
  // Rank 1 starts first; rank 0 comes up on the agreed port 700 ms later.
  const int port = UnusedPort();
  std::vector<absl::Status> results(2);
  std::thread late_rank0([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    GroupOptions o = LocalOptions(0, 2, kTestTimeout);
    o.store_port = port;
    absl::StatusOr<std::unique_ptr<ProcessGroup>> g = ProcessGroup::Create(o, nullptr);
    results[0] = g.status();
    if (g.ok()) {
      results[0] = (*g)->Barrier();
    }
  });
  GroupOptions o = LocalOptions(1, 2, kTestTimeout);
  o.store_port = port;
  absl::StatusOr<std::unique_ptr<ProcessGroup>> g = ProcessGroup::Create(o, nullptr);
  results[1] = g.status();
  if (g.ok()) {
    results[1] = (*g)->Barrier();
  }
  late_rank0.join();
  EXPECT_OK(results[0]);
  EXPECT_OK(results[1]);
}

TEST(ProcessGroupTest, OtherRankFailsNamingTheStoreWhenNothingListens) {
  const int port = UnusedPort();
  GroupOptions o = LocalOptions(1, 2, std::chrono::milliseconds(1000));
  o.store_port = port;
  const Clock::time_point start = Clock::now();
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Create(o, nullptr);
  EXPECT_THAT(group, AnyOf(StatusIs(absl::StatusCode::kDeadlineExceeded),
                           StatusIs(absl::StatusCode::kUnavailable)));
  EXPECT_THAT(group.status().message(), HasSubstr(absl::StrCat("127.0.0.1:", port)));
  EXPECT_THAT(group.status().message(), HasSubstr("rank 1"));
  EXPECT_LE(SecondsSince(start), 8.0);
}

}  // namespace
}  // namespace vmae::dist
