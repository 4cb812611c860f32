// Runs every test of the binary on one intra-op thread (the CI machine has 2 cores
// and ctest may run two binaries at once).
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace {

class OneThreadEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};

[[maybe_unused]] ::testing::Environment* const kOneThread =
    ::testing::AddGlobalTestEnvironment(new OneThreadEnvironment);

}  // namespace
