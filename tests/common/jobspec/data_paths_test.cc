// ValidateDataPaths: data roots, "..", symlinks and missing files.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/jobspec/jobspec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/jobspec/test_util.h"

namespace vmae::jobspec {
namespace {

using testing::IsOk;
using testing::StatusIs;

constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// A data root holding k400/{train,val}.csv, and a directory outside it.
class JobSpecDataPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/jobspec-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    // TempDir() ends in '/'; normalise so expected messages match.
    base_ = std::filesystem::path(pattern).lexically_normal().string();
    roots_ = {base_ + "/roots"};
    dataset_ = base_ + "/roots/k400";
    outside_ = base_ + "/outside";
    std::filesystem::create_directories(dataset_);
    std::filesystem::create_directories(outside_);
    Touch(dataset_ + "/train.csv");
    Touch(dataset_ + "/val.csv");
    Touch(outside_ + "/secret.csv");
    spec_.set_kind(v1::JOB_KIND_FINETUNE);
    spec_.mutable_data()->set_root(dataset_);
    spec_.mutable_data()->set_train("train.csv");
    spec_.mutable_data()->set_val("val.csv");
    spec_.mutable_finetune()->set_init_from("job://j-1/latest");
  }
  void TearDown() override { std::filesystem::remove_all(base_); }

  static void Touch(const std::string& path) { std::ofstream(path) << "a.mp4 0\n"; }

  std::string base_;
  std::vector<std::string> roots_;
  std::string dataset_;
  std::string outside_;
  v1::JobSpec spec_;
};

TEST_F(JobSpecDataPathsTest, AcceptsExistingFilesUnderARoot) {
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, /*check_exists=*/true), IsOk());
  EXPECT_THAT(ValidateDataPaths(spec_, {"/elsewhere", roots_[0] + "/"}, true), IsOk());
}

TEST_F(JobSpecDataPathsTest, NoRootsAcceptsAnyAbsoluteRoot) {
  spec_.mutable_data()->set_root("/nonexistent/data");
  EXPECT_THAT(ValidateDataPaths(spec_, {}, /*check_exists=*/false), IsOk());
}

TEST_F(JobSpecDataPathsTest, RejectsDotDotEscapes) {
  spec_.mutable_data()->set_root(roots_[0] + "/../outside");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false),
              StatusIs(kInvalid, "data.root: '" + roots_[0] + "/../outside' contains '..'"));
  spec_.mutable_data()->set_root(dataset_);
  spec_.mutable_data()->set_train("../../outside/secret.csv");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false),
              StatusIs(kInvalid, "data.train: '../../outside/secret.csv' contains '..'"));
  spec_.mutable_data()->set_train("train.csv");
  spec_.mutable_data()->set_val("/etc/passwd");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false),
              StatusIs(kInvalid, "data.val: '/etc/passwd' starts with '/'"));
}

TEST_F(JobSpecDataPathsTest, RejectsRootOutsideDataRoots) {
  spec_.mutable_data()->set_root(outside_);
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false),
              StatusIs(kInvalid, "data.root: '" + outside_ + "' is outside the data roots; "
                                 "expected a path under " + roots_[0]));
  // A shared prefix is not containment: /x/roots-2 is not under /x/roots.
  spec_.mutable_data()->set_root(roots_[0] + "-2");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false), StatusIs(kInvalid, "outside the data roots"));
  spec_.mutable_data()->set_root("relative/k400");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false),
              StatusIs(kInvalid, "data.root: 'relative/k400' is not an absolute path"));
}

TEST_F(JobSpecDataPathsTest, MissingFilesAreNotFoundNamingThePath) {
  spec_.mutable_data()->set_train("nope.csv");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, true),
              StatusIs(absl::StatusCode::kNotFound,
                       "data.train: '" + dataset_ + "/nope.csv' does not exist"));
  // Without check_exists nothing is looked up.
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false), IsOk());
  spec_.mutable_data()->set_root(roots_[0] + "/ssv2");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, true),
              StatusIs(absl::StatusCode::kNotFound,
                       "data.root: '" + roots_[0] + "/ssv2' does not exist"));
}

TEST_F(JobSpecDataPathsTest, RejectsSymlinkOutOfTheRoots) {
  ASSERT_EQ(symlink((outside_ + "/secret.csv").c_str(), (dataset_ + "/link.csv").c_str()), 0);
  spec_.mutable_data()->set_train("link.csv");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false), IsOk());  // lexically fine.
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, true),
              StatusIs(kInvalid, "data.train: '" + dataset_ + "/link.csv' resolves to '"));
}

TEST_F(JobSpecDataPathsTest, ListMustBeAFile) {
  std::filesystem::create_directories(dataset_ + "/dir.csv");
  spec_.mutable_data()->set_train("dir.csv");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, true), StatusIs(kInvalid, "is not a regular file"));
}

TEST_F(JobSpecDataPathsTest, InitFromPathObeysTheRoots) {
  spec_.mutable_finetune()->set_init_from(outside_ + "/model.pth");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false),
              StatusIs(kInvalid, "finetune.init_from: '" + outside_ + "/model.pth' is outside"));
  spec_.mutable_finetune()->set_init_from(dataset_ + "/model.pth");
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, false), IsOk());
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, true),
              StatusIs(absl::StatusCode::kNotFound, "finetune.init_from: '" + dataset_ +
                                                        "/model.pth' does not exist"));
}

TEST_F(JobSpecDataPathsTest, UnreadableListIsPermissionDenied) {
  if (geteuid() == 0) {
    GTEST_SKIP() << "root reads every file";
  }
  ASSERT_EQ(chmod((dataset_ + "/train.csv").c_str(), 0), 0);
  EXPECT_THAT(ValidateDataPaths(spec_, roots_, true),
              StatusIs(absl::StatusCode::kPermissionDenied, "data.train"));
}

}  // namespace
}  // namespace vmae::jobspec
