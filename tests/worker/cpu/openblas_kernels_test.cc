#include "worker/cpu/openblas_kernels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/testing/coordinator_process.h"

namespace vmae::cpu {
namespace {

using ::testing::HasSubstr;
using ::testing::Optional;
using vmae::testing::BinaryPath;
using vmae::testing::RunCommand;

constexpr CpuVectorFeatures kAvx512{/*avx512=*/true, /*avx2_fma=*/true};
constexpr CpuVectorFeatures kAvx2{/*avx512=*/false, /*avx2_fma=*/true};
constexpr CpuVectorFeatures kSse{/*avx512=*/false, /*avx2_fma=*/false};

TEST(BetterOpenBlasCoreTypeTest, FallbackKernelsOnAnAvx512CpuBecomeSkylakeX) {
  // OpenBLAS 0.3.21 on an Emerald Rapids Xeon (family 6, model 207).
  EXPECT_THAT(BetterOpenBlasCoreType("Prescott", kAvx512), Optional(std::string("SkylakeX")));
  EXPECT_THAT(BetterOpenBlasCoreType("Haswell", kAvx512), Optional(std::string("SkylakeX")));
}

TEST(BetterOpenBlasCoreTypeTest, Avx512KernelsAreKeptInAnyCase) {
  EXPECT_EQ(BetterOpenBlasCoreType("SkylakeX", kAvx512), std::nullopt);
  EXPECT_EQ(BetterOpenBlasCoreType("COOPERLAKE", kAvx512), std::nullopt);
  EXPECT_EQ(BetterOpenBlasCoreType("sapphirerapids", kAvx512), std::nullopt);
}

TEST(BetterOpenBlasCoreTypeTest, Avx2CpuGetsHaswellOnlyFromOlderKernels) {
  EXPECT_THAT(BetterOpenBlasCoreType("Sandybridge", kAvx2), Optional(std::string("Haswell")));
  EXPECT_THAT(BetterOpenBlasCoreType("Prescott", kAvx2), Optional(std::string("Haswell")));
  EXPECT_EQ(BetterOpenBlasCoreType("Haswell", kAvx2), std::nullopt);
  EXPECT_EQ(BetterOpenBlasCoreType("Zen", kAvx2), std::nullopt);
}

TEST(BetterOpenBlasCoreTypeTest, OldCpuIsLeftAlone) {
  EXPECT_EQ(BetterOpenBlasCoreType("Prescott", kSse), std::nullopt);
  EXPECT_EQ(BetterOpenBlasCoreType("Nehalem", kSse), std::nullopt);
}

// The binary end to end: `vmae version` names the kernels its OpenBLAS
// runs after the restart, which must use the widest vectors the CPU has
// (read here with the compiler's cpuid helpers, not the tool's).
TEST(VmaeBinaryTest, RunsKernelsThatFitThisCpu) {
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("VMAE_OPENBLAS_RESTARTED");
  std::string out;
  ASSERT_EQ(RunCommand({BinaryPath("vmae"), "version"}, &out), 0) << out;
  if (out.find("OpenBLAS") == std::string::npos) GTEST_SKIP() << "BLAS is not OpenBLAS: " << out;
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    EXPECT_THAT(out, ::testing::ContainsRegex("(SkylakeX|Cooperlake|SapphireRapids) kernels"));
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    EXPECT_THAT(out, ::testing::ContainsRegex("(Haswell|Zen) kernels"));
  }
}

TEST(VmaeBinaryTest, KeepsTheUsersCoreType) {
  std::string out;
  ASSERT_EQ(RunCommand({BinaryPath("vmae"), "version"}, &out, {"OPENBLAS_CORETYPE=Haswell"}), 0)
      << out;
  if (out.find("OpenBLAS") == std::string::npos) GTEST_SKIP() << "BLAS is not OpenBLAS: " << out;
  EXPECT_THAT(out, HasSubstr("Haswell kernels"));
}

}  // namespace
}  // namespace vmae::cpu
