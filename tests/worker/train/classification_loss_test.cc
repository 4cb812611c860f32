#include "worker/train/classification_loss.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/train/test_util.h"
#include "worker/train/mixup.h"

namespace vmae::train {
namespace {

using ::vmae::train::testing::StatusIs;

class ClassificationLossTest : public ::vmae::train::testing::SingleThreadTest {};

using Table = std::vector<std::vector<double>>;

torch::Tensor ToTensor(const Table& rows) {
  std::vector<double> flat;
  for (const auto& row : rows) {
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return torch::tensor(flat, torch::kDouble)
      .reshape({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}

// log(sum(exp(row))) with the max taken out, in plain double.
double LogSumExp(const std::vector<double>& row) {
  double max = row[0];
  for (const double v : row) {
    max = std::max(max, v);
  }
  double sum = 0.0;
  for (const double v : row) {
    sum += std::exp(v - max);
  }
  return max + std::log(sum);
}

// The soft-target cross entropy written out: mean over rows of
// sum_k -t_k (x_k - logsumexp(x)).
double SoftTargetLoop(const Table& logits, const Table& targets) {
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double lse = LogSumExp(logits[i]);
    for (size_t k = 0; k < logits[i].size(); ++k) {
      total += -targets[i][k] * (logits[i][k] - lse);
    }
  }
  return total / static_cast<double>(logits.size());
}

const Table kLogits = {{0.5, -1.25, 2.0, 0.0}, {3.0, 3.5, -2.0, 1.0}, {-0.75, 0.25, 0.0, -4.0}};

TEST_F(ClassificationLossTest, SoftTargetCrossEntropyMatchesALoop) {
  const Table targets = {{0.1, 0.2, 0.6, 0.1}, {0.0, 0.0, 0.25, 0.75}, {0.4, 0.4, 0.1, 0.1}};
  absl::StatusOr<torch::Tensor> loss = SoftTargetCrossEntropy(ToTensor(kLogits), ToTensor(targets));
  ASSERT_OK(loss);
  EXPECT_EQ(loss->dim(), 0);
  EXPECT_NEAR(loss->item<double>(), SoftTargetLoop(kLogits, targets), 1e-12);
}

TEST_F(ClassificationLossTest, SoftTargetGradientIsSoftmaxMinusTargetOverBatch) {
  const Table targets = {{0.1, 0.2, 0.6, 0.1}, {0.0, 0.0, 0.25, 0.75}, {0.4, 0.4, 0.1, 0.1}};
  const torch::Tensor logits = ToTensor(kLogits).requires_grad_(true);
  absl::StatusOr<torch::Tensor> loss = SoftTargetCrossEntropy(logits, ToTensor(targets));
  ASSERT_OK(loss);
  loss->backward();
  // d/dx_ik of mean_i sum_k -t_ik log softmax(x_i)_k, with rows of t summing
  // to 1: (softmax(x_i)_k - t_ik) / B.
  for (size_t i = 0; i < kLogits.size(); ++i) {
    const double lse = LogSumExp(kLogits[i]);
    for (size_t k = 0; k < kLogits[i].size(); ++k) {
      const double expected = (std::exp(kLogits[i][k] - lse) - targets[i][k]) / 3.0;
      EXPECT_NEAR(logits.grad()[static_cast<int64_t>(i)][static_cast<int64_t>(k)].item<double>(),
                  expected, 1e-12);
    }
  }
}

TEST_F(ClassificationLossTest, LabelSmoothingByHand) {
  // Logits log(1..4): softmax is exactly (0.1, 0.2, 0.3, 0.4). Label 3,
  // smoothing 0.1: 0.9 * -log 0.4 + 0.1 * mean(-log p)
  //   = 0.9 * 0.916290731874155 + 0.1 * (2.3025850929940455 + 1.6094379124341003
  //     + 1.2039728043259361 + 0.916290731874155) / 4 = 0.9754688222...
  const torch::Tensor logits =
      torch::log(torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kDouble)).reshape({1, 4});
  absl::StatusOr<torch::Tensor> loss =
      LabelSmoothingCrossEntropy(logits, torch::tensor({3}, torch::kLong), 0.1);
  ASSERT_OK(loss);
  const double by_hand =
      0.9 * 0.916290731874155 +
      0.1 * (2.3025850929940455 + 1.6094379124341003 + 1.2039728043259361 + 0.916290731874155) /
          4.0;
  EXPECT_NEAR(loss->item<double>(), by_hand, 1e-12);
  EXPECT_NEAR(by_hand, 0.97546882, 1e-8);
  // Plain cross entropy of the same row: -log 0.4.
  absl::StatusOr<torch::Tensor> ce = CrossEntropy(logits, torch::tensor({3}, torch::kLong));
  ASSERT_OK(ce);
  EXPECT_NEAR(ce->item<double>(), -std::log(0.4), 1e-12);
}

TEST_F(ClassificationLossTest, LabelSmoothingEqualsSoftTargetWithSmoothedOneHot) {
  const torch::Tensor logits = ToTensor(kLogits);
  const torch::Tensor labels = torch::tensor({2, 1, 0}, torch::kLong);
  for (const double smoothing : {0.0, 0.1, 0.3}) {
    absl::StatusOr<torch::Tensor> smoothed = LabelSmoothingCrossEntropy(logits, labels, smoothing);
    ASSERT_OK(smoothed);
    // (1 - s) onehot + s / K, written out.
    Table targets(3, std::vector<double>(4, smoothing / 4.0));
    targets[0][2] += 1.0 - smoothing;
    targets[1][1] += 1.0 - smoothing;
    targets[2][0] += 1.0 - smoothing;
    EXPECT_NEAR(smoothed->item<double>(), SoftTargetLoop(kLogits, targets), 1e-12) << smoothing;
    // And with Mixup's targets at lam 1 (no mixing, smoothing only).
    absl::StatusOr<torch::Tensor> mixed = MixTargets(labels, 4, 1.0, smoothing);
    ASSERT_OK(mixed);
    absl::StatusOr<torch::Tensor> soft = SoftTargetCrossEntropy(logits, mixed->to(torch::kDouble));
    ASSERT_OK(soft);
    EXPECT_NEAR(smoothed->item<double>(), soft->item<double>(), 1e-6) << smoothing;
  }
}

TEST_F(ClassificationLossTest, CrossEntropyIsMeanNegativeLogLikelihood) {
  const torch::Tensor labels = torch::tensor({2, 1, 0}, torch::kLong);
  absl::StatusOr<torch::Tensor> ce = CrossEntropy(ToTensor(kLogits), labels);
  ASSERT_OK(ce);
  double expected = 0.0;
  const std::vector<size_t> label = {2, 1, 0};
  for (size_t i = 0; i < 3; ++i) {
    expected += LogSumExp(kLogits[i]) - kLogits[i][label[i]];
  }
  EXPECT_NEAR(ce->item<double>(), expected / 3.0, 1e-12);
}

TEST_F(ClassificationLossTest, HalfLogitsAreComputedInFloat) {
  const Table targets = {{0.1, 0.2, 0.6, 0.1}, {0.0, 0.0, 0.25, 0.75}, {0.4, 0.4, 0.1, 0.1}};
  // The logits are exact in float16.
  absl::StatusOr<torch::Tensor> loss = SoftTargetCrossEntropy(ToTensor(kLogits).to(torch::kHalf),
                                                              ToTensor(targets).to(torch::kFloat));
  ASSERT_OK(loss);
  EXPECT_EQ(loss->scalar_type(), torch::kFloat);
  EXPECT_NEAR(loss->item<double>(), SoftTargetLoop(kLogits, targets), 1e-5);
}

TEST_F(ClassificationLossTest, ChoosesAsTheAuthors) {
  ClassificationLossOptions options;
  EXPECT_EQ(ChooseClassificationLoss(options), ClassificationLossKind::kSoftTargetCrossEntropy);
  options.smoothing = 0.0;
  EXPECT_EQ(ChooseClassificationLoss(options), ClassificationLossKind::kSoftTargetCrossEntropy);
  options.mixup_active = false;
  EXPECT_EQ(ChooseClassificationLoss(options), ClassificationLossKind::kCrossEntropy);
  options.smoothing = 0.1;
  EXPECT_EQ(ChooseClassificationLoss(options), ClassificationLossKind::kLabelSmoothingCrossEntropy);
}

TEST_F(ClassificationLossTest, ClassificationLossUsesTheChosenCriterion) {
  const torch::Tensor logits = ToTensor(kLogits);
  const torch::Tensor labels = torch::tensor({2, 1, 0}, torch::kLong);
  const Table soft = {{0.1, 0.2, 0.6, 0.1}, {0.0, 0.0, 0.25, 0.75}, {0.4, 0.4, 0.1, 0.1}};

  ClassificationLossOptions options;  // mixup on, smoothing 0.1
  absl::StatusOr<torch::Tensor> loss = ClassificationLoss(options, logits, ToTensor(soft));
  ASSERT_OK(loss);
  EXPECT_NEAR(loss->item<double>(), SoftTargetLoop(kLogits, soft), 1e-12);
  // Mixup's targets are [B, K]; labels are the wrong kind of target here.
  EXPECT_THAT(ClassificationLoss(options, logits, labels),
              StatusIs(absl::StatusCode::kInvalidArgument));

  options.mixup_active = false;
  Table smoothed(3, std::vector<double>(4, 0.1 / 4.0));
  smoothed[0][2] += 0.9;
  smoothed[1][1] += 0.9;
  smoothed[2][0] += 0.9;
  loss = ClassificationLoss(options, logits, labels);
  ASSERT_OK(loss);
  EXPECT_NEAR(loss->item<double>(), SoftTargetLoop(kLogits, smoothed), 1e-12);

  options.smoothing = 0.0;
  Table one_hot(3, std::vector<double>(4, 0.0));
  one_hot[0][2] = one_hot[1][1] = one_hot[2][0] = 1.0;
  loss = ClassificationLoss(options, logits, labels);
  ASSERT_OK(loss);
  EXPECT_NEAR(loss->item<double>(), SoftTargetLoop(kLogits, one_hot), 1e-12);
}

TEST_F(ClassificationLossTest, RejectsBadInput) {
  const torch::Tensor logits = ToTensor(kLogits);
  EXPECT_THAT(CrossEntropy(logits, torch::tensor({2, 1, 4}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LabelSmoothingCrossEntropy(logits, torch::tensor({2, -1, 0}, torch::kLong), 0.1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CrossEntropy(logits, torch::tensor({2, 1}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(LabelSmoothingCrossEntropy(logits, torch::tensor({2, 1, 0}, torch::kLong), 1.0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(SoftTargetCrossEntropy(logits, torch::zeros({3, 5}, torch::kDouble)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CrossEntropy(torch::zeros({0, 4}), torch::zeros({0}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(CrossEntropy(torch::zeros({4}), torch::zeros({4}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ClassificationLossOptions options;
  options.smoothing = -0.1;
  EXPECT_THAT(ClassificationLoss(options, logits, torch::zeros({3, 4}, torch::kDouble)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmae::train
