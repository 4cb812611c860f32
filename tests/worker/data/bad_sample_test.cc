// The kind of a bad sample survives being passed along as a status.
#include "worker/data/bad_sample.h"

#include <set>
#include <string>

#include "gtest/gtest.h"

namespace vmae::data {
namespace {

TEST(BadSampleTest, KindRoundTripsThroughStatus) {
  for (BadSampleKind kind : kAllBadSampleKinds) {
    const absl::Status status = BadSampleError(kind, "videos/a.mp4: broken");
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.message(), "videos/a.mp4: broken");
    ASSERT_TRUE(BadSampleKindOf(status).has_value());
    EXPECT_EQ(*BadSampleKindOf(status), kind);
    // A copy with a new message keeps the payload.
    absl::Status copy = status;
    EXPECT_EQ(BadSampleKindOf(copy), kind);
  }
}

TEST(BadSampleTest, CodesSayWhatKindOfFailure) {
  EXPECT_EQ(BadSampleError(BadSampleKind::kMissing, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(BadSampleError(BadSampleKind::kTimeout, "x").code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(BadSampleError(BadSampleKind::kTruncated, "x").code(), absl::StatusCode::kDataLoss);
}

TEST(BadSampleTest, OtherErrorsHaveNoKind) {
  EXPECT_FALSE(BadSampleKindOf(absl::OkStatus()).has_value());
  EXPECT_FALSE(BadSampleKindOf(absl::DataLossError("our own bug")).has_value());
}

TEST(BadSampleTest, NamesAreDistinctMetricLabels) {
  std::set<std::string> names;
  for (BadSampleKind kind : kAllBadSampleKinds) {
    const std::string name(BadSampleKindName(kind));
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), std::size(kAllBadSampleKinds));
}

}  // namespace
}  // namespace vmae::data
