#include "worker/eval/accuracy.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace vmae::eval {
namespace {

using ::testing::ElementsAre;
using ::vmae::testing::StatusIs;

// Four rows of six classes; the label's rank (1 = largest logit) by hand:
//   row 0, label 1: 0.9 is the largest                -> rank 1
//   row 1, label 4: 5 4 3 2 [1] 0                      -> rank 5
//   row 2, label 5: 5 4 3 2 1 [0]                      -> rank 6
//   row 3, label 2: 3 (class 4) > [2] > 1 > 0.5 > 0 > -2 -> rank 2
torch::Tensor TableLogits() {
  return torch::tensor({0.1f, 0.9f, 0.3f, 0.2f, 0.0f, -1.0f,  //
                        5.0f, 4.0f, 3.0f, 2.0f, 1.0f, 0.0f,   //
                        5.0f, 4.0f, 3.0f, 2.0f, 1.0f, 0.0f,   //
                        0.0f, 0.5f, 2.0f, 1.0f, 3.0f, -2.0f})
      .reshape({4, 6});
}
torch::Tensor TableLabels() { return torch::tensor({1, 4, 5, 2}, torch::kLong); }

TEST(AccuracyTest, TopKOnAHandMadeTable) {
  // top-1: row 0 only; top-2: rows 0, 3; top-5: rows 0, 1, 3; top-6: all.
  absl::StatusOr<std::vector<int64_t>> correct =
      TopKCorrect(TableLogits(), TableLabels(), {1, 2, 5, 6});
  ASSERT_OK(correct);
  EXPECT_THAT(*correct, ElementsAre(1, 2, 3, 4));
  absl::StatusOr<std::vector<double>> percent = TopKAccuracy(TableLogits(), TableLabels());
  ASSERT_OK(percent);
  EXPECT_THAT(*percent, ElementsAre(25.0, 75.0));
}

TEST(AccuracyTest, KBeyondTheClassesCountsEveryRow) {
  // timm clamps maxk to K: with 3 classes top-5 is top-3, always right.
  const torch::Tensor logits = torch::tensor({1.0f, 2.0f, 3.0f, 3.0f, 2.0f, 1.0f}).reshape({2, 3});
  absl::StatusOr<std::vector<double>> percent =
      TopKAccuracy(logits, torch::tensor({0, 0}, torch::kLong));
  ASSERT_OK(percent);
  // Row 0's label has the smallest logit, row 1's the largest.
  EXPECT_THAT(*percent, ElementsAre(50.0, 100.0));
}

TEST(AccuracyTest, AnyIntegerLabelType) {
  absl::StatusOr<std::vector<int64_t>> correct =
      TopKCorrect(TableLogits(), torch::tensor({1, 4, 5, 2}, torch::kInt), {1, 5});
  ASSERT_OK(correct);
  EXPECT_THAT(*correct, ElementsAre(1, 3));
}

TEST(AccuracyTest, RejectsBadInput) {
  EXPECT_THAT(TopKCorrect(TableLogits(), torch::tensor({1, 4, 6, 2}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TopKCorrect(TableLogits(), torch::tensor({1, 4, -1, 2}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TopKCorrect(TableLogits(), torch::tensor({1, 4, 5}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TopKCorrect(TableLogits(), TableLabels(), {0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TopKCorrect(TableLogits(), TableLabels(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TopKCorrect(torch::zeros({0, 6}), torch::zeros({0}, torch::kLong)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(TopKCorrect(TableLogits(), TableLabels().to(torch::kFloat)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmae::eval
