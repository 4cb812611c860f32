// Small helpers for the client tests.
#ifndef VMAE_TESTS_CLIENT_TEST_UTIL_H_
#define VMAE_TESTS_CLIENT_TEST_UTIL_H_

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/commands/commands.h"

namespace vmae::client::testing {

inline const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

#ifndef EXPECT_OK
#define EXPECT_OK(expr)                                     \
  EXPECT_TRUE(::vmae::client::testing::StatusOf(expr).ok()) \
      << ::vmae::client::testing::StatusOf(expr)
#endif
#ifndef ASSERT_OK
#define ASSERT_OK(expr)                                     \
  ASSERT_TRUE(::vmae::client::testing::StatusOf(expr).ok()) \
      << ::vmae::client::testing::StatusOf(expr)
#endif

// An environment with nothing set.
inline EnvLookup EmptyEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

// Runs vmaectl in-process on a non-terminal; collects stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline RunResult Vmaectl(std::vector<std::string> args, Tuning tuning = {}) {
  args.insert(args.begin(), "vmaectl");
  std::ostringstream out;
  std::ostringstream err;
  Io io;
  io.out = &out;
  io.err = &err;
  RunResult r;
  r.exit_code = RunVmaectl(args, EmptyEnv(), io, tuning);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace vmae::client::testing

#endif  // VMAE_TESTS_CLIENT_TEST_UTIL_H_
