// Helpers for the trainer tests: status assertions (Abseil 20220623 ships no
// status matchers) and a fixture that pins LibTorch to one thread.
#ifndef VMAE_TESTS_WORKER_TRAIN_TEST_UTIL_H_
#define VMAE_TESTS_WORKER_TRAIN_TEST_UTIL_H_

#include <ATen/Parallel.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace vmae::train::testing {

using ::vmae::testing::IsOk;
using ::vmae::testing::StatusIs;
using ::vmae::testing::StatusOf;

// Base fixture: one intra-op thread (2-core shared build machine, and
// reproducible reductions).
class SingleThreadTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(1); }
};

}  // namespace vmae::train::testing

#endif  // VMAE_TESTS_WORKER_TRAIN_TEST_UTIL_H_
