// Helpers for the trainer tests: status assertions (Abseil 20220623 ships no
// status matchers) and a fixture that pins LibTorch to one thread.
#ifndef VMAE_TESTS_WORKER_TRAIN_TEST_UTIL_H_
#define VMAE_TESTS_WORKER_TRAIN_TEST_UTIL_H_

#include <ATen/Parallel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::train::testing {

inline const absl::Status& ToStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

#define VMAE_TRAIN_EXPECT_OK_IMPL_(check, expr)                     \
  do {                                                              \
    const auto& vmae_test_result_ = (expr);                         \
    check(::vmae::train::testing::ToStatus(vmae_test_result_).ok()) \
        << ::vmae::train::testing::ToStatus(vmae_test_result_);     \
  } while (0)
#define EXPECT_OK(expr) VMAE_TRAIN_EXPECT_OK_IMPL_(EXPECT_TRUE, expr)
#define ASSERT_OK(expr) VMAE_TRAIN_EXPECT_OK_IMPL_(ASSERT_TRUE, expr)

// Matches a Status or StatusOr whose code is `code`.
MATCHER_P(StatusIs, code, "") {
  const absl::Status& status = ::vmae::train::testing::ToStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

// Base fixture: one intra-op thread (2-core shared build machine, and
// reproducible reductions).
class SingleThreadTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }
};

}  // namespace vmae::train::testing

#endif  // VMAE_TESTS_WORKER_TRAIN_TEST_UTIL_H_
