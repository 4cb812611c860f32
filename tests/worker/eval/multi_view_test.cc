#include "worker/eval/multi_view.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace vmae::eval {
namespace {

using ::testing::ElementsAre;
using ::vmae::testing::StatusIs;

torch::Tensor Row(std::vector<double> values) { return torch::tensor(values, torch::kDouble); }

// softmax(row) in plain double.
std::vector<double> Softmax(const std::vector<double>& row) {
  const double max = *std::max_element(row.begin(), row.end());
  double sum = 0.0;
  std::vector<double> p;
  for (const double v : row) {
    p.push_back(std::exp(v - max));
    sum += p.back();
  }
  for (double& v : p) {
    v /= sum;
  }
  return p;
}

std::vector<int64_t> TopClasses(const VideoPrediction& prediction) {
  std::vector<int64_t> classes;
  for (const ClassProbability& c : prediction.top) {
    classes.push_back(c.class_index);
  }
  return classes;
}

TEST(MultiViewTest, AveragesSoftmaxNotLogits) {
  // One confident view for class 0 and two for class 1. The mean logits
  // (6.67, 3.33, 0) pick class 0; the mean softmax picks class 1, since the
  // confident view's probability cannot exceed 1:
  // ((1, 0, 0) + 2 * (0.0066, 0.9867, 0.0066)) / 3 = (0.338, 0.658, 0.004).
  const std::vector<std::vector<double>> views = {{20, 0, 0}, {0, 5, 0}, {0, 5, 0}};
  std::vector<double> mean_logits(3, 0.0);
  std::vector<double> mean_probs(3, 0.0);
  for (const auto& view : views) {
    const std::vector<double> p = Softmax(view);
    for (size_t k = 0; k < 3; ++k) {
      mean_logits[k] += view[k] / 3.0;
      mean_probs[k] += p[k] / 3.0;
    }
  }
  ASSERT_EQ(std::max_element(mean_logits.begin(), mean_logits.end()) - mean_logits.begin(), 0);

  absl::StatusOr<MultiViewAggregator> agg = MultiViewAggregator::Create(3, 3);
  ASSERT_OK(agg);
  for (int64_t v = 0; v < 3; ++v) {
    ASSERT_OK(agg->Add("video", /*label=*/1, v, Row(views[static_cast<size_t>(v)])));
  }
  const std::vector<VideoPrediction> predictions = agg->Predictions(3);
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_EQ(predictions[0].video_id, "video");
  EXPECT_EQ(predictions[0].label, 1);
  EXPECT_EQ(predictions[0].num_views, 3);
  EXPECT_THAT(TopClasses(predictions[0]), ElementsAre(1, 0, 2));
  for (const ClassProbability& c : predictions[0].top) {
    EXPECT_NEAR(c.probability, mean_probs[static_cast<size_t>(c.class_index)], 1e-14);
  }
  absl::StatusOr<MultiViewSummary> summary = agg->Summary();
  ASSERT_OK(summary);
  EXPECT_EQ(summary->num_videos, 1);
  EXPECT_EQ(summary->top1, 100.0);
}

TEST(MultiViewTest, TopOneAndTopFiveOverVideos) {
  // One view per video, 6 classes; the label's rank in each by hand:
  // a: 1, b: 5, c: 6, d: 2. Top-1 1/4, top-5 3/4.
  absl::StatusOr<MultiViewAggregator> agg = MultiViewAggregator::Create(6, 1);
  ASSERT_OK(agg);
  ASSERT_OK(agg->Add("a", 1, 0, Row({0.1, 0.9, 0.3, 0.2, 0.0, -1.0})));
  ASSERT_OK(agg->Add("b", 4, 0, Row({5, 4, 3, 2, 1, 0})));
  ASSERT_OK(agg->Add("c", 5, 0, Row({5, 4, 3, 2, 1, 0})));
  ASSERT_OK(agg->Add("d", 2, 0, Row({0, 0.5, 2, 1, 3, -2})));
  absl::StatusOr<MultiViewSummary> summary = agg->Summary();
  ASSERT_OK(summary);
  EXPECT_EQ(summary->num_videos, 4);
  EXPECT_EQ(summary->num_incomplete, 0);
  EXPECT_EQ(summary->top1, 25.0);
  EXPECT_EQ(summary->top5, 75.0);
}

TEST(MultiViewTest, ResultDoesNotDependOnArrivalOrder) {
  // 5 videos x 6 views of random logits, added view by view in order, in a
  // shuffled order, and as shuffled batches: the same doubles, bit for bit.
  const int64_t num_classes = 7, num_views = 6, num_videos = 5;
  torch::manual_seed(3);
  const torch::Tensor logits = torch::randn({num_videos, num_views, num_classes}) * 4.0;
  struct Item {
    std::string id;
    int64_t label;
    int64_t view;
    torch::Tensor logits;
  };
  std::vector<Item> items;
  for (int64_t i = 0; i < num_videos; ++i) {
    for (int64_t v = 0; v < num_views; ++v) {
      items.push_back({"video" + std::to_string(i), i % num_classes, v, logits[i][v]});
    }
  }
  absl::StatusOr<MultiViewAggregator> ordered = MultiViewAggregator::Create(num_classes, num_views);
  ASSERT_OK(ordered);
  for (const Item& item : items) {
    ASSERT_OK(ordered->Add(item.id, item.label, item.view, item.logits));
  }
  std::mt19937 rng(5);
  std::shuffle(items.begin(), items.end(), rng);
  absl::StatusOr<MultiViewAggregator> shuffled =
      MultiViewAggregator::Create(num_classes, num_views);
  ASSERT_OK(shuffled);
  for (const Item& item : items) {
    ASSERT_OK(shuffled->Add(item.id, item.label, item.view, item.logits));
  }
  std::shuffle(items.begin(), items.end(), rng);
  absl::StatusOr<MultiViewAggregator> batched = MultiViewAggregator::Create(num_classes, num_views);
  ASSERT_OK(batched);
  for (size_t start = 0; start < items.size(); start += 4) {
    std::vector<std::string> ids;
    std::vector<int64_t> labels, views;
    std::vector<torch::Tensor> rows;
    for (size_t j = start; j < std::min(items.size(), start + 4); ++j) {
      ids.push_back(items[j].id);
      labels.push_back(items[j].label);
      views.push_back(items[j].view);
      rows.push_back(items[j].logits);
    }
    ASSERT_OK(batched->AddBatch(ids, torch::tensor(labels, torch::kLong),
                                torch::tensor(views, torch::kLong), torch::stack(rows)));
  }

  const std::vector<VideoPrediction> expected = ordered->Predictions(num_classes);
  ASSERT_EQ(expected.size(), static_cast<size_t>(num_videos));
  for (const MultiViewAggregator* agg : {&*shuffled, &*batched}) {
    const std::vector<VideoPrediction> got = agg->Predictions(num_classes);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].video_id, expected[i].video_id);
      EXPECT_EQ(got[i].num_views, num_views);
      ASSERT_EQ(got[i].top.size(), static_cast<size_t>(num_classes));
      for (size_t k = 0; k < got[i].top.size(); ++k) {
        EXPECT_EQ(got[i].top[k].class_index, expected[i].top[k].class_index);
        EXPECT_EQ(got[i].top[k].probability, expected[i].top[k].probability);
      }
    }
  }
  // And the values are the mean softmax of the views (float32 logits).
  const VideoPrediction& first = expected[0];
  for (const ClassProbability& c : first.top) {
    double mean = 0.0;
    for (int64_t v = 0; v < num_views; ++v) {
      std::vector<double> row;
      for (int64_t k = 0; k < num_classes; ++k) {
        row.push_back(logits[0][v][k].item<float>());
      }
      mean += Softmax(row)[static_cast<size_t>(c.class_index)] / num_views;
    }
    EXPECT_NEAR(c.probability, mean, 1e-14);
  }
}

TEST(MultiViewTest, RejectsARepeatedViewAndKeepsTheFirst) {
  absl::StatusOr<MultiViewAggregator> agg = MultiViewAggregator::Create(2, 2);
  ASSERT_OK(agg);
  ASSERT_OK(agg->Add("v", 0, 1, Row({2.0, 0.0})));
  EXPECT_THAT(agg->Add("v", 0, 1, Row({0.0, 9.0})), StatusIs(absl::StatusCode::kAlreadyExists));
  const std::vector<VideoPrediction> predictions = agg->Predictions(2);
  ASSERT_EQ(predictions.size(), 1u);
  EXPECT_EQ(predictions[0].num_views, 1);
  EXPECT_EQ(predictions[0].top[0].class_index, 0);
  EXPECT_NEAR(predictions[0].top[0].probability, Softmax({2.0, 0.0})[0], 1e-15);
}

TEST(MultiViewTest, ABadBatchAddsNothing) {
  absl::StatusOr<MultiViewAggregator> agg = MultiViewAggregator::Create(2, 2);
  ASSERT_OK(agg);
  const torch::Tensor logits = torch::zeros({3, 2});
  // The same (video, view) twice within the batch.
  EXPECT_THAT(agg->AddBatch({"a", "b", "a"}, torch::tensor({0, 1, 0}, torch::kLong),
                            torch::tensor({0, 0, 0}, torch::kLong), logits),
              StatusIs(absl::StatusCode::kAlreadyExists));
  // Two labels for one video within the batch.
  EXPECT_THAT(agg->AddBatch({"a", "b", "a"}, torch::tensor({0, 1, 1}, torch::kLong),
                            torch::tensor({0, 0, 1}, torch::kLong), logits),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A view out of range in the last row.
  EXPECT_THAT(agg->AddBatch({"a", "b", "c"}, torch::tensor({0, 1, 1}, torch::kLong),
                            torch::tensor({0, 0, 2}, torch::kLong), logits),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(agg->num_videos(), 0);
  EXPECT_THAT(agg->Summary(), StatusIs(absl::StatusCode::kFailedPrecondition));
  // A good batch goes in.
  ASSERT_OK(agg->AddBatch({"a", "b", "a"}, torch::tensor({0, 1, 0}, torch::kLong),
                          torch::tensor({0, 0, 1}, torch::kLong), logits));
  EXPECT_EQ(agg->num_videos(), 2);
}

TEST(MultiViewTest, RejectsBadViews) {
  absl::StatusOr<MultiViewAggregator> agg = MultiViewAggregator::Create(3, 2);
  ASSERT_OK(agg);
  ASSERT_OK(agg->Add("v", 2, 0, Row({0, 0, 1})));
  // Another label for the same video.
  EXPECT_THAT(agg->Add("v", 1, 1, Row({0, 0, 1})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add("w", 3, 0, Row({0, 0, 1})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add("w", 0, 2, Row({0, 0, 1})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add("w", 0, -1, Row({0, 0, 1})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add("w", 0, 0, Row({0, 1})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add("w", 0, 0, Row({0, NAN, 1})), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(agg->Add("w", 0, 0, Row({0, INFINITY, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(agg->num_videos(), 1);
  EXPECT_THAT(MultiViewAggregator::Create(0, 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MultiViewAggregator::Create(3, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MultiViewTest, ReportsVideosWithMissingViews) {
  absl::StatusOr<MultiViewAggregator> agg = MultiViewAggregator::Create(2, 3);
  ASSERT_OK(agg);
  for (int64_t v = 0; v < 3; ++v) {
    ASSERT_OK(agg->Add("full", 0, v, Row({1.0, 0.0})));
  }
  // Two of three views: merged from those two.
  ASSERT_OK(agg->Add("short", 1, 2, Row({0.0, 1.0})));
  ASSERT_OK(agg->Add("short", 1, 0, Row({0.0, 3.0})));
  ASSERT_OK(agg->Add("one", 0, 1, Row({0.0, 0.0})));
  EXPECT_THAT(agg->IncompleteVideos(), ElementsAre("one", "short"));
  absl::StatusOr<MultiViewSummary> summary = agg->Summary();
  ASSERT_OK(summary);
  EXPECT_EQ(summary->num_videos, 3);
  EXPECT_EQ(summary->num_incomplete, 2);
  const std::vector<VideoPrediction> predictions = agg->Predictions(1);
  ASSERT_EQ(predictions.size(), 3u);
  // Sorted by id: full, one, short.
  EXPECT_EQ(predictions[2].video_id, "short");
  EXPECT_EQ(predictions[2].num_views, 2);
  ASSERT_EQ(predictions[2].top.size(), 1u);
  EXPECT_EQ(predictions[2].top[0].class_index, 1);
  EXPECT_NEAR(predictions[2].top[0].probability,
              (Softmax({0.0, 1.0})[1] + Softmax({0.0, 3.0})[1]) / 2.0, 1e-15);
  // "one" has equal logits: the tie goes to the lower class, 0 = its label.
  EXPECT_EQ(predictions[1].top[0].class_index, 0);
  EXPECT_EQ(predictions[1].top[0].probability, 0.5);
  EXPECT_EQ(summary->top1, 100.0);
}

}  // namespace
}  // namespace vmae::eval
