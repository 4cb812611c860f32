#include "worker/dist/grad_reducer.h"

#include <torch/torch.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/dist/rank_threads.h"

namespace vmae::dist {
namespace {

using ::vmae::dist::testing::kTestTimeout;
using ::vmae::dist::testing::RunRanks;
using ::vmae::testing::StatusIs;

// A small MLP with a side branch some ranks skip, a parameter nothing uses
// (registered first, so it lands in the LAST bucket and does not hold back
// the others) and a frozen one (no hook, no bucket). float64, so the only
// differences from the single-model expectation are summation order.
struct NetImpl : torch::nn::Module {
  NetImpl() {
    unused = register_parameter("unused", torch::randn({5}, torch::kFloat64));
    fc1 = register_module("fc1", torch::nn::Linear(4, 16));
    fc2 = register_module("fc2", torch::nn::Linear(16, 3));
    side = register_module("side", torch::nn::Linear(4, 3));
    frozen = register_parameter("frozen", torch::randn({2}, torch::kFloat64),
                                /*requires_grad=*/false);
    to(torch::kFloat64);
  }
  at::Tensor forward(const at::Tensor& x, bool use_side) {
    at::Tensor y = fc2(torch::tanh(fc1(x)));
    return use_side ? y + side(x) : y;
  }
  torch::nn::Linear fc1 = nullptr, fc2 = nullptr, side = nullptr;
  at::Tensor unused, frozen;
};
TORCH_MODULE(Net);

// Trainable parameters of the net in registration order:
// unused, fc1.{weight,bias}, fc2.{weight,bias}, side.{weight,bias}.
constexpr int kTrainable = 7;

// A copy of `from` with the same values (each rank starts identical, as
// after the trainer's initial broadcast).
Net CopyOf(const Net& from) {
  Net to;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> src = from->parameters();
  std::vector<at::Tensor> dst = to->parameters();
  for (size_t i = 0; i < src.size(); ++i) {
    dst[i].copy_(src[i]);
  }
  return to;
}

struct MicroBatch {
  at::Tensor x, y;
};

// Data: ranks x micro-batches, generated up front on the main thread.
struct StepSetup {
  int world = 2;
  int micro_batches = 1;
  int64_t bucket_bytes = kDefaultBucketBytes;
  bool overlap = true;
  // Ranks that use the side branch.
  std::vector<bool> use_side = {true, true};
};

std::vector<std::vector<MicroBatch>> MakeData(const StepSetup& s) {
  std::vector<std::vector<MicroBatch>> data(s.world);
  for (int r = 0; r < s.world; ++r) {
    for (int k = 0; k < s.micro_batches; ++k) {
      // Different sizes per micro-batch would change the weighting; the
      // trainer uses equal micro-batches, and so does this test.
      data[r].push_back(
          {torch::randn({6, 4}, torch::kFloat64) + r, torch::randn({6, 3}, torch::kFloat64)});
    }
  }
  return data;
}

at::Tensor Loss(Net& net, const MicroBatch& b, bool use_side, int micro_batches) {
  return torch::mse_loss(net->forward(b.x, use_side), b.y) / micro_batches;
}

// The expectation, without any process group: one model, the mean over
// ranks of each rank's (accumulated, 1/K-scaled) loss, plain autograd. With
// equal batches this is the gradient of the mean loss on the concatenated
// batch. Undefined grads (never used anywhere) are zeros.
std::vector<at::Tensor> ExpectedGrads(const Net& init, const StepSetup& s,
                                      const std::vector<std::vector<MicroBatch>>& data) {
  Net net = CopyOf(init);
  at::Tensor total = torch::zeros({}, torch::kFloat64);
  for (int r = 0; r < s.world; ++r) {
    for (int k = 0; k < s.micro_batches; ++k) {
      total = total + Loss(net, data[r][k], s.use_side[r], s.micro_batches);
    }
  }
  (total / s.world).backward();
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : net->parameters()) {
    if (!p.requires_grad()) {
      continue;
    }
    grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  }
  return grads;
}

struct RankResult {
  std::vector<at::Tensor> grads;  // trainable params, registration order
  int num_buckets = 0;
  int started_early = 0;
};

// Runs one optimizer step's backward(s) on every rank through GradReducer.
std::vector<RankResult> RunReducer(const Net& init, const StepSetup& s,
                                   const std::vector<std::vector<MicroBatch>>& data) {
  std::vector<RankResult> results(s.world);
  RunRanks(s.world, kTestTimeout, [&](ProcessGroup& g) {
    const int r = g.rank();
    Net net = CopyOf(init);
    GradReducer reducer(&g, net->parameters(), s.bucket_bytes);
    reducer.set_overlap(s.overlap);
    for (int k = 0; k < s.micro_batches; ++k) {
      if (k == s.micro_batches - 1) {
        reducer.Arm();
      }
      Loss(net, data[r][k], s.use_side[r], s.micro_batches).backward();
    }
    ASSERT_OK(reducer.Finish());
    EXPECT_GE(reducer.last_wait_seconds(), 0.0);
    RankResult& out = results[r];
    out.num_buckets = reducer.num_buckets();
    out.started_early = reducer.last_buckets_started_early();
    for (const at::Tensor& p : net->parameters()) {
      if (!p.requires_grad()) {
        EXPECT_FALSE(p.grad().defined()) << "a frozen parameter got a gradient";
        continue;
      }
      ASSERT_TRUE(p.grad().defined()) << "Finish() must define every trainable .grad";
      out.grads.push_back(p.grad().clone());
    }
  });
  return results;
}

void ExpectGradsNear(const std::vector<at::Tensor>& actual, const std::vector<at::Tensor>& expected,
                     int rank) {
  ASSERT_EQ(actual.size(), expected.size()) << "rank " << rank;
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_TRUE(torch::allclose(actual[i], expected[i], /*rtol=*/1e-6, /*atol=*/1e-12))
        << "rank " << rank << ", parameter " << i << ": got\n"
        << actual[i] << "\nexpected\n"
        << expected[i];
  }
}

class GradReducerTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(17); }
};

TEST_F(GradReducerTest, AveragedGradsEqualOneModelOnTheConcatenatedBatch) {
  StepSetup s;
  Net init;
  const auto data = MakeData(s);
  const std::vector<at::Tensor> expected = ExpectedGrads(init, s, data);
  const std::vector<RankResult> results = RunReducer(init, s, data);
  for (int r = 0; r < s.world; ++r) {
    ExpectGradsNear(results[r].grads, expected, r);
    EXPECT_EQ(results[r].num_buckets, 1);  // ~0.5 KiB of parameters
  }
  // Independent check of the expectation itself for one tensor: the
  // parameter nothing uses averages to exactly zero.
  EXPECT_TRUE(torch::equal(results[0].grads[0], torch::zeros({5}, torch::kFloat64)));
}

TEST_F(GradReducerTest, AccumulatedMicroBatchesEqualTheFullBatchGradient) {
  StepSetup s;
  s.micro_batches = 2;  // armed only before the second backward
  Net init;
  const auto data = MakeData(s);
  const std::vector<at::Tensor> expected = ExpectedGrads(init, s, data);
  const std::vector<RankResult> results = RunReducer(init, s, data);
  for (int r = 0; r < s.world; ++r) {
    ExpectGradsNear(results[r].grads, expected, r);
  }
}

TEST_F(GradReducerTest, ManyBucketsAndAParameterOnlyOneRankUses) {
  StepSetup s;
  s.micro_batches = 2;
  s.bucket_bytes = 1;          // every parameter in a bucket of its own
  s.use_side = {true, false};  // rank 1 never reaches side.*: zeros
  Net init;
  const auto data = MakeData(s);
  const std::vector<at::Tensor> expected = ExpectedGrads(init, s, data);
  const std::vector<RankResult> results = RunReducer(init, s, data);
  for (int r = 0; r < s.world; ++r) {
    ExpectGradsNear(results[r].grads, expected, r);
    EXPECT_EQ(results[r].num_buckets, kTrainable);
  }
}

TEST_F(GradReducerTest, OverlapOnAndOffGiveIdenticalResults) {
  StepSetup s;
  s.bucket_bytes = 64;  // fc1.weight alone is 512 bytes: several buckets
  Net init;
  const auto data = MakeData(s);
  s.overlap = true;
  const std::vector<RankResult> on = RunReducer(init, s, data);
  s.overlap = false;
  const std::vector<RankResult> off = RunReducer(init, s, data);
  for (int r = 0; r < s.world; ++r) {
    ASSERT_EQ(on[r].grads.size(), off[r].grads.size());
    for (size_t i = 0; i < on[r].grads.size(); ++i) {
      EXPECT_TRUE(torch::equal(on[r].grads[i], off[r].grads[i])) << "parameter " << i;
    }
    EXPECT_GT(on[r].num_buckets, 2);
    // With overlap every bucket but the last (it holds `unused`, which no
    // backward reaches) starts during the backward; without, none does.
    EXPECT_EQ(on[r].started_early, on[r].num_buckets - 1);
    EXPECT_EQ(off[r].started_early, 0);
  }
}

TEST_F(GradReducerTest, WorldSizeOneLeavesLocalGradsAndDefinesMissingOnes) {
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Create({}, nullptr);
  ASSERT_OK(group);
  Net net;
  GradReducer reducer(group->get(), net->parameters(), /*bucket_bytes=*/1);
  EXPECT_EQ(reducer.num_buckets(), kTrainable);
  const MicroBatch b{torch::randn({3, 4}, torch::kFloat64), torch::randn({3, 3}, torch::kFloat64)};

  Net reference = CopyOf(net);
  Loss(reference, b, true, 1).backward();

  reducer.Arm();
  Loss(net, b, true, 1).backward();
  ASSERT_OK(reducer.Finish());
  const std::vector<at::Tensor> got = net->parameters();
  const std::vector<at::Tensor> want = reference->parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i].requires_grad()) {
      continue;
    }
    ASSERT_TRUE(got[i].grad().defined()) << i;
    const at::Tensor w = want[i].grad().defined() ? want[i].grad() : torch::zeros_like(want[i]);
    EXPECT_TRUE(torch::equal(got[i].grad(), w)) << "parameter " << i;
  }
  EXPECT_EQ(reducer.last_wait_seconds(), 0.0);
}

TEST_F(GradReducerTest, BucketsSplitByDtypeAndFinishNeedsArm) {
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = ProcessGroup::Create({}, nullptr);
  ASSERT_OK(group);
  std::vector<at::Tensor> params = {
      torch::zeros({4}, torch::kFloat32).requires_grad_(),
      torch::zeros({4}, torch::kFloat64).requires_grad_(),
      torch::zeros({4}, torch::kFloat64).requires_grad_(),
      torch::zeros({4}, torch::kFloat32),  // frozen: no bucket
      torch::zeros({4}, torch::kFloat32).requires_grad_(),
  };
  // Reverse order: f32 | f64 f64 | f32 with a bucket size nothing fills.
  GradReducer reducer(group->get(), params);
  EXPECT_EQ(reducer.num_buckets(), 3);
  EXPECT_THAT(reducer.Finish(), StatusIs(absl::StatusCode::kFailedPrecondition, "Arm()"));
}

TEST_F(GradReducerTest, FinishTimesOutWhenAPeerSkipsTheStep) {
  constexpr auto kTimeout = std::chrono::milliseconds(2000);
  Net init;
  std::promise<void> rank0_done;
  std::shared_future<void> done = rank0_done.get_future().share();
  RunRanks(2, kTimeout, [&](ProcessGroup& g) {
    if (g.rank() == 1) {
      done.wait();  // in the group, but never reduces
      return;
    }
    Net net = CopyOf(init);
    GradReducer reducer(&g, net->parameters());
    reducer.Arm();
    Loss(net, {torch::randn({2, 4}, torch::kFloat64), torch::randn({2, 3}, torch::kFloat64)}, true,
         1)
        .backward();
    absl::Status s = reducer.Finish();
    rank0_done.set_value();
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded, "rank 0 of 2"));
    EXPECT_THAT(s.message(), ::testing::HasSubstr("2000 ms"));
  });
}

}  // namespace
}  // namespace vmae::dist
