#include "worker/dist/gloo_device.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace vmae::dist {
namespace {

using Kind = GlooDeviceChoice::Kind;

TEST(GlooDeviceTest, GlooSocketIfnameWinsAndIsCommaSeparated) {
  absl::StatusOr<GlooDeviceChoice> c = ChooseGlooDevice(1, "127.0.0.1", 1234, "eth0,ib0");
  ASSERT_OK(c);
  EXPECT_EQ(c->kind, Kind::kInterfaces);
  EXPECT_EQ(c->interfaces, (std::vector<std::string>{"eth0", "ib0"}));
}

TEST(GlooDeviceTest, WildcardStoreAddressUsesTheDefaultDevice) {
  absl::StatusOr<GlooDeviceChoice> c = ChooseGlooDevice(0, "0.0.0.0", 0, nullptr);
  ASSERT_OK(c);
  EXPECT_EQ(c->kind, Kind::kDefault);
  c = ChooseGlooDevice(0, "0.0.0.0", 0, "");  // set but empty = unset
  ASSERT_OK(c);
  EXPECT_EQ(c->kind, Kind::kDefault);
}

TEST(GlooDeviceTest, RankZeroBindsToItsStoreAddressOthersToTheirRouteToIt) {
  absl::StatusOr<GlooDeviceChoice> c = ChooseGlooDevice(0, "127.0.0.1", 0, nullptr);
  ASSERT_OK(c);
  EXPECT_EQ(c->kind, Kind::kHostname);
  EXPECT_EQ(c->address, "127.0.0.1");
  c = ChooseGlooDevice(1, "127.0.0.1", 29500, nullptr);
  ASSERT_OK(c);
  EXPECT_EQ(c->kind, Kind::kHostname);
  EXPECT_EQ(c->address, "127.0.0.1");  // loopback is reached from loopback
}

TEST(GlooDeviceTest, LocalAddressTowardLoopbackIsLoopback) {
  absl::StatusOr<std::string> a = LocalAddressToward("127.0.0.1", 9);
  ASSERT_OK(a);
  EXPECT_EQ(*a, "127.0.0.1");
  a = LocalAddressToward("localhost", 9);
  ASSERT_OK(a);
  EXPECT_THAT(*a, ::testing::AnyOf("127.0.0.1", "::1"));
}

}  // namespace
}  // namespace vmae::dist
