// Helpers shared by the jobspec tests.
#ifndef VMAE_TESTS_COMMON_JOBSPEC_TEST_UTIL_H_
#define VMAE_TESTS_COMMON_JOBSPEC_TEST_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace vmae::jobspec::testing {

using ::vmae::testing::IsOk;
using ::vmae::testing::StatusIs;
using ::vmae::testing::StatusOf;

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

}  // namespace vmae::jobspec::testing

#endif  // VMAE_TESTS_COMMON_JOBSPEC_TEST_UTIL_H_
