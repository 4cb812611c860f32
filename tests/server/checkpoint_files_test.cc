#include "server/checkpoints/checkpoint_files.h"

#include <filesystem>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"

namespace vmae::server {
namespace {

vmae::v1::CheckpointFile Declared(const std::string& name, const std::string& data) {
  vmae::v1::CheckpointFile f;
  f.set_name(name);
  f.set_size(static_cast<int64_t>(data.size()));
  f.set_sha256(Sha256Hex(data));
  return f;
}

TEST(CheckpointFilesTest, RejectsUnsafeNames) {
  EXPECT_TRUE(IsSafeFileName("model.safetensors"));
  EXPECT_FALSE(IsSafeFileName("../etc/passwd"));
  EXPECT_FALSE(IsSafeFileName("a/b"));
  EXPECT_FALSE(IsSafeFileName(".hidden"));
  EXPECT_FALSE(IsSafeFileName(""));
  EXPECT_FALSE(IsSafeFileName(std::string(129, 'a')));
}

TEST(CheckpointFilesTest, AppendsOnlyAtTheHeldOffsetAndCommitsVerifiedFiles) {
  testing::TempDir dir;
  CheckpointFiles files(dir.path());
  ASSERT_TRUE(files.Init().ok());
  const std::string data = "0123456789";
  ASSERT_TRUE(files.Append("u1", "m.bin", 0, data.substr(0, 4), 10).ok());
  EXPECT_EQ(files.HeldBytes("u1", "m.bin"), 4);
  absl::Status gap = files.Append("u1", "m.bin", 6, "67", 10);
  EXPECT_EQ(gap.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(gap.message().find("resume from 4"), std::string::npos);
  EXPECT_EQ(files.Append("u1", "m.bin", 4, "45678901234", 10).code(),
            absl::StatusCode::kInvalidArgument);  // beyond the declared size
  ASSERT_TRUE(files.Append("u1", "m.bin", 4, data.substr(4), 10).ok());
  ASSERT_TRUE(files.Commit("u1", "j-1", "j-1-s5", {Declared("m.bin", data)}).ok());
  EXPECT_EQ(testing::ReadFileOrDie(files.PathOf("j-1", "j-1-s5", "m.bin")), data);
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/uploads/u1"));
  ASSERT_TRUE(files.Remove("j-1", "j-1-s5").ok());
  EXPECT_TRUE(files.Remove("j-1", "j-1-s5").ok());  // idempotent
}

TEST(CheckpointFilesTest, DigestMismatchIsDataLossAndDiscardsTheFile) {
  testing::TempDir dir;
  CheckpointFiles files(dir.path());
  ASSERT_TRUE(files.Init().ok());
  ASSERT_TRUE(files.Append("u2", "m.bin", 0, "corrupted!", 10).ok());
  absl::Status s = files.Commit("u2", "j-1", "j-1-s1", {Declared("m.bin", "0123456789")});
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(files.HeldBytes("u2", "m.bin"), 0);
  EXPECT_FALSE(files.Exists("j-1", "j-1-s1"));
}

}  // namespace
}  // namespace vmae::server
