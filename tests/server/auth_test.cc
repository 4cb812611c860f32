#include "server/auth.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace vmae::server {
namespace {

using ::testing::HasSubstr;

TEST(AuthTest, ParsesTokensUsersAndRolesSkippingComments) {
  auto users = Authenticator::ParseTokens(
      "# token user role\n\n  aaaaaaaaaaaaaaaa alice user\nbbbbbbbbbbbbbbbb\troot\tadmin\n", "t");
  ASSERT_TRUE(users.ok()) << users.status();
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ(users->at("aaaaaaaaaaaaaaaa").user, "alice");
  EXPECT_FALSE(users->at("aaaaaaaaaaaaaaaa").IsAdmin());
  EXPECT_TRUE(users->at("bbbbbbbbbbbbbbbb").IsAdmin());
}

TEST(AuthTest, BadLinesNameFileAndLine) {
  auto wrong_fields = Authenticator::ParseTokens("aaaaaaaaaaaaaaaa alice\n", "tokens.txt");
  EXPECT_THAT(wrong_fields.status().message(), HasSubstr("tokens.txt:1"));
  auto bad_role = Authenticator::ParseTokens("# c\naaaaaaaaaaaaaaaa alice root\n", "f");
  EXPECT_THAT(bad_role.status().message(), HasSubstr("f:2: role 'root'"));
  auto short_token = Authenticator::ParseTokens("abc alice user\n", "f");
  EXPECT_THAT(short_token.status().message(), HasSubstr("shorter than 16"));
  auto dup = Authenticator::ParseTokens("aaaaaaaaaaaaaaaa a user\naaaaaaaaaaaaaaaa b user\n", "f");
  EXPECT_THAT(dup.status().message(), HasSubstr("f:2: duplicate token"));
}

TEST(AuthTest, JoinTokenMustDifferFromUserTokens) {
  EXPECT_FALSE(Authenticator::Load("", "short").ok());
  EXPECT_TRUE(Authenticator::Load("", "join-token-0123456789").ok());
}

TEST(AuthTest, OnlyOwnerOrAdminMayChangeAJob) {
  EXPECT_TRUE(CheckOwner({"alice", Role::kUser}, "alice", "j-1").ok());
  EXPECT_TRUE(CheckOwner({"root", Role::kAdmin}, "alice", "j-1").ok());
  absl::Status s = CheckOwner({"bob", Role::kUser}, "alice", "j-1");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("alice"));
}

}  // namespace
}  // namespace vmae::server
