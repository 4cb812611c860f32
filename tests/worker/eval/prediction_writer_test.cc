#include "worker/eval/prediction_writer.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "worker/eval/multi_view.h"

namespace vmae::eval {
namespace {

using ::testing::ElementsAre;
using ::vmae::testing::StatusIs;
using ::vmae::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

VideoPrediction Prediction(std::string id, int64_t label, int64_t views,
                           std::vector<ClassProbability> top) {
  VideoPrediction p;
  p.video_id = std::move(id);
  p.label = label;
  p.num_views = views;
  p.top = std::move(top);
  return p;
}

TEST(PredictionWriterTest, LineLayout) {
  absl::StatusOr<std::string> line =
      PredictionJsonLine(Prediction("a.mp4", 3, 15, {{3, 0.5}, {0, 0.25}}));
  ASSERT_OK(line);
  EXPECT_EQ(*line, R"({"video_id":"a.mp4","label":3,"num_views":15,)"
                   R"("top_k":[{"class":3,"prob":0.5},{"class":0,"prob":0.25}]})");
}

TEST(PredictionWriterTest, WritesOneLinePerVideoThatReadsBack) {
  TempDir dir;
  const std::string path = dir.File("predictions.jsonl");
  // An id that needs escaping, and probabilities that need all 17 digits.
  const std::vector<VideoPrediction> predictions = {
      Prediction("dir/\"quoted\"\nname.mp4", 2, 6, {{2, 1.0 / 3.0}, {1, 0.1}}),
      Prediction("b", 0, 5, {{1, 0.7}})};
  ASSERT_OK(WritePredictions(path, predictions));
  const std::string contents = ReadFile(path);
  std::vector<std::string> lines;
  std::istringstream stream(contents);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(contents.back(), '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    const nlohmann::json j = nlohmann::json::parse(lines[i]);
    const VideoPrediction& p = predictions[i];
    EXPECT_EQ(j.at("video_id").get<std::string>(), p.video_id);
    EXPECT_EQ(j.at("label").get<int64_t>(), p.label);
    EXPECT_EQ(j.at("num_views").get<int64_t>(), p.num_views);
    ASSERT_EQ(j.at("top_k").size(), p.top.size());
    for (size_t k = 0; k < p.top.size(); ++k) {
      EXPECT_EQ(j.at("top_k")[k].at("class").get<int64_t>(), p.top[k].class_index);
      EXPECT_EQ(j.at("top_k")[k].at("prob").get<double>(), p.top[k].probability);
    }
  }
  // Nothing but the file is left in the directory.
  EXPECT_THAT(DirEntries(dir.path()), ElementsAre("predictions.jsonl"));
}

TEST(PredictionWriterTest, ReplacesAnOldFile) {
  TempDir dir;
  const std::string path = dir.File("p.jsonl");
  std::ofstream(path) << "old contents\n";
  ASSERT_OK(WritePredictions(path, {Prediction("x", 1, 1, {{1, 1.0}})}));
  EXPECT_EQ(ReadFile(path),
            R"({"video_id":"x","label":1,"num_views":1,"top_k":[{"class":1,"prob":1.0}]})"
            "\n");
  ASSERT_OK(WritePredictions(path, {}));
  EXPECT_EQ(ReadFile(path), "");
  EXPECT_THAT(DirEntries(dir.path()), ElementsAre("p.jsonl"));
}

TEST(PredictionWriterTest, ABadIdLeavesTheOldFile) {
  TempDir dir;
  const std::string path = dir.File("p.jsonl");
  std::ofstream(path) << "old contents\n";
  // "\xff" is not UTF-8.
  EXPECT_THAT(WritePredictions(path, {Prediction("ok", 0, 1, {}), Prediction("\xff", 0, 1, {})}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ReadFile(path), "old contents\n");
  EXPECT_THAT(DirEntries(dir.path()), ElementsAre("p.jsonl"));
}

TEST(PredictionWriterTest, AMissingDirectoryIsNotFound) {
  TempDir dir;
  EXPECT_THAT(WritePredictions(dir.File("no/such/p.jsonl"), {}),
              StatusIs(absl::StatusCode::kNotFound, "no/such/p.jsonl"));
  EXPECT_TRUE(DirEntries(dir.path()).empty());
}

}  // namespace
}  // namespace vmae::eval
