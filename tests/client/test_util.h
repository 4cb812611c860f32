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
#include "tests/testing/status_matchers.h"

namespace vmae::client::testing {

using ::vmae::testing::IsOk;
using ::vmae::testing::StatusIs;
using ::vmae::testing::StatusOf;

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
