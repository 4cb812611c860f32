// Every file in tests/testdata/jobs/invalid/ must be rejected. Each begins
//   # expect: <substring of the error message>
//   # expect-line: <line the error must point at>     (optional)
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/jobspec/jobspec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/jobspec/test_util.h"

namespace vmae::jobspec {
namespace {

using ::testing::HasSubstr;

std::string InvalidDir() { return testing::TestDataDir() + "/invalid"; }

std::vector<std::string> InvalidFiles() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(InvalidDir())) {
    if (entry.path().extension() == ".yaml") {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

struct Expectation {
  std::string substring;
  int line = 0;  // 0: not checked.
};

Expectation ReadExpectation(const std::string& path) {
  std::ifstream in(path);
  Expectation expectation;
  std::string text;
  while (std::getline(in, text)) {
    absl::string_view line = text;
    if (absl::ConsumePrefix(&line, "# expect: ")) {
      expectation.substring = std::string(line);
    } else if (absl::ConsumePrefix(&line, "# expect-line: ")) {
      EXPECT_TRUE(absl::SimpleAtoi(line, &expectation.line)) << path;
    } else {
      break;
    }
  }
  return expectation;
}

// "07-top-level-list.yaml" -> "File07TopLevelList".
std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = "File";
  bool upper = true;
  for (char c : info.param.substr(0, info.param.size() - 5)) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      upper = true;
      continue;
    }
    name.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c);
    upper = false;
  }
  return name;
}

class JobSpecInvalidFileTest : public ::testing::TestWithParam<std::string> {};

TEST_P(JobSpecInvalidFileTest, IsRejectedWithExpectedMessage) {
  const std::string path = InvalidDir() + "/" + GetParam();
  const Expectation expectation = ReadExpectation(path);
  ASSERT_FALSE(expectation.substring.empty()) << path << " lacks a '# expect: ' first line";
  const absl::StatusOr<v1::JobSpec> spec = LoadJobSpecFile(path);
  ASSERT_FALSE(spec.ok()) << path << " was accepted";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
  const std::string message(spec.status().message());
  EXPECT_THAT(message, HasSubstr(expectation.substring));
  if (expectation.line > 0) {
    // The line of the problem the file is about, not just any line.
    bool found = false;
    for (absl::string_view line : absl::StrSplit(message, '\n')) {
      found = found || (absl::StrContains(line, expectation.substring) &&
                        absl::StartsWith(line, absl::StrCat(path, ":", expectation.line, ":")));
    }
    EXPECT_TRUE(found) << "no line '" << path << ":" << expectation.line << ":...' containing '"
                       << expectation.substring << "' in:\n"
                       << message;
  }
  // Every line follows "<where>: <path>: <what>; expected <what>".
  for (absl::string_view line : absl::StrSplit(message, '\n')) {
    EXPECT_TRUE(absl::StartsWith(line, path + ":")) << line;
    EXPECT_THAT(std::string(line), HasSubstr("; expected ")) << line;
  }
}

INSTANTIATE_TEST_SUITE_P(Files, JobSpecInvalidFileTest, ::testing::ValuesIn(InvalidFiles()),
                         TestName);

TEST(JobSpecTest, InvalidFilesCoverAtLeast45Cases) { EXPECT_GE(InvalidFiles().size(), 45u); }

TEST(JobSpecTest, ManyProblemsFileReportsEachOnItsLine) {
  const std::string path = InvalidDir() + "/" + [] {
    for (const std::string& name : InvalidFiles()) {
      if (absl::StrContains(name, "many-problems")) {
        return name;
      }
    }
    return std::string("missing");
  }();
  const auto spec = LoadJobSpecFile(path);
  ASSERT_FALSE(spec.ok());
  const std::vector<std::string> lines = absl::StrSplit(spec.status().message(), '\n');
  EXPECT_THAT(lines, ::testing::ElementsAre(HasSubstr(":7:10: model.depth: 'twelve'"),
                                            HasSubstr(":12:11: optimizer.epochs: value 0"),
                                            HasSubstr(":14:11: resources.device: 'tpu'"),
                                            HasSubstr(":15:3: resources.wrokers: unknown key")));
}

}  // namespace
}  // namespace vmae::jobspec
