#include "worker/agent/checkpoint_transfer.h"

#include <filesystem>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"

namespace vmae::worker {
namespace {

TEST(CheckpointTransferTest, DescribesRegularFilesSortedWithSizeAndSha) {
  vmae::testing::TempDir dir;
  vmae::testing::WriteFile(dir.File("model.safetensors"), std::string(3000, 'w'));
  vmae::testing::WriteFile(dir.File("manifest.json"), "{\"step\": 5}");
  std::filesystem::create_directories(dir.File("subdir"));
  vmae::testing::WriteFile(dir.File("subdir/ignored"), "x");
  auto files = DescribeCheckpointDir(dir.path());
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].name(), "manifest.json");
  EXPECT_EQ((*files)[0].size(), 11);
  EXPECT_EQ((*files)[0].sha256(), Sha256Hex("{\"step\": 5}"));
  EXPECT_EQ((*files)[1].name(), "model.safetensors");
  EXPECT_EQ((*files)[1].size(), 3000);
  EXPECT_EQ((*files)[1].sha256(), Sha256Hex(std::string(3000, 'w')));
}

TEST(CheckpointTransferTest, MissingOrEmptyDirectoryIsNotFound) {
  vmae::testing::TempDir dir;
  EXPECT_EQ(DescribeCheckpointDir(dir.File("gone")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(DescribeCheckpointDir(dir.path()).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vmae::worker
