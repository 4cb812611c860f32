#include "worker/agent/health_file.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"

namespace vmae::worker {
namespace {

using ::testing::HasSubstr;

TEST(HealthFileTest, FreshFileIsHealthy) {
  vmae::testing::TempDir dir;
  const std::string path = dir.File("health");
  ASSERT_TRUE(WriteHealthFile(path, 1000).ok());
  EXPECT_EQ(vmae::testing::ReadFileOrDie(path), "1000\n");
  EXPECT_TRUE(CheckHealthFile(path, 30, 1020).ok());
  EXPECT_TRUE(CheckHealthFile(path, 30, 1030).ok());
}

TEST(HealthFileTest, StaleFileSaysHowOld) {
  vmae::testing::TempDir dir;
  const std::string path = dir.File("health");
  ASSERT_TRUE(WriteHealthFile(path, 1000).ok());
  absl::Status s = CheckHealthFile(path, 30, 1031);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("31 s ago"));
}

TEST(HealthFileTest, MissingOrGarbledFileIsUnhealthy) {
  vmae::testing::TempDir dir;
  EXPECT_THAT(CheckHealthFile(dir.File("none"), 30, 1).message(), HasSubstr("does not exist"));
  vmae::testing::WriteFile(dir.File("bad"), "yesterday\n");
  EXPECT_THAT(CheckHealthFile(dir.File("bad"), 30, 1).message(), HasSubstr("unix time"));
}

TEST(HealthFileTest, RewriteReplacesAtomically) {
  vmae::testing::TempDir dir;
  const std::string path = dir.File("health");
  ASSERT_TRUE(WriteHealthFile(path, 1).ok());
  ASSERT_TRUE(WriteHealthFile(path, 2).ok());
  EXPECT_EQ(vmae::testing::ReadFileOrDie(path), "2\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(HealthFileTest, UnwritableFolderIsAnError) {
  EXPECT_FALSE(WriteHealthFile("/nonexistent-dir/health", 1).ok());
}

}  // namespace
}  // namespace vmae::worker
