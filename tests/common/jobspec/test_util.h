// Helpers shared by the jobspec tests.
#ifndef VMAE_TESTS_COMMON_JOBSPEC_TEST_UTIL_H_
#define VMAE_TESTS_COMMON_JOBSPEC_TEST_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::jobspec::testing {

// The repository root, where configs/ and tests/testdata/ live.
inline std::string SourceDir() { return VMAE_SOURCE_DIR; }
inline std::string TestDataDir() { return SourceDir() + "/tests/testdata/jobs"; }

// The smallest valid jobs, for tests that change one thing.
inline constexpr char kMinimalPretrain[] = R"(kind: pretrain
name: t
model:
  arch: vit_base
data:
  root: /data/k400
  train: train.csv
)";

inline constexpr char kMinimalFinetune[] = R"(kind: finetune
name: t
model:
  arch: vit_base
  num_classes: 400
finetune:
  init_from: job://j-00ff/latest
data:
  root: /data/k400
  train: train.csv
  val: val.csv
)";

// Matches a status (or StatusOr) with `code` whose message contains `text`.
MATCHER_P2(StatusIs, code, text, "") {
  const absl::Status status = [&]() -> absl::Status {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.code() == code &&
         status.message().find(std::string(text)) != absl::string_view::npos;
}

MATCHER(IsOk, "") {
  const absl::Status status = [&]() -> absl::Status {
    if constexpr (std::is_same_v<std::decay_t<arg_type>, absl::Status>) {
      return arg;
    } else {
      return arg.status();
    }
  }();
  *result_listener << "status is " << status;
  return status.ok();
}

}  // namespace vmae::jobspec::testing

#endif  // VMAE_TESTS_COMMON_JOBSPEC_TEST_UTIL_H_
