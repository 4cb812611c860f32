// Status assertions and matchers for every test binary (header only, so
// engine tests use it without linking gRPC). Abseil 20220623 has none.
//   EXPECT_OK(status_or_statusor);  ASSERT_OK(...);
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound, "substring"));
//   EXPECT_THAT(s, IsOk());
#ifndef VMAE_TESTS_TESTING_STATUS_MATCHERS_H_
#define VMAE_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::testing {

inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

#define VMAE_EXPECT_OK_IMPL_(check, expr)                           \
  do {                                                              \
    const auto& vmae_test_result_ = (expr);                         \
    check(::vmae::testing::StatusOf(vmae_test_result_).ok())        \
        << ::vmae::testing::StatusOf(vmae_test_result_);            \
  } while (0)
#define EXPECT_OK(expr) VMAE_EXPECT_OK_IMPL_(EXPECT_TRUE, expr)
#define ASSERT_OK(expr) VMAE_EXPECT_OK_IMPL_(ASSERT_TRUE, expr)

// A Status or StatusOr whose code is `code`.
MATCHER_P(StatusIs, code, "") {
  const absl::Status& status = ::vmae::testing::StatusOf(arg);
  *result_listener << "status is " << status;
  return status.code() == code;
}

// ... and whose message contains `text`.
MATCHER_P2(StatusIs, code, text, "") {
  const absl::Status& status = ::vmae::testing::StatusOf(arg);
  *result_listener << "status is " << status;
  return status.code() == code && status.message().find(std::string(text)) != std::string::npos;
}

MATCHER(IsOk, "") {
  const absl::Status& status = ::vmae::testing::StatusOf(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

}  // namespace vmae::testing

#endif  // VMAE_TESTS_TESTING_STATUS_MATCHERS_H_
