#include "worker/model/sinusoid.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace vmae::model {
namespace {

TEST(SinusoidTest, MatchesTheFormulaInDouble) {
  const int64_t n = 50;
  const int64_t d = 24;
  const torch::Tensor table = SinusoidTable(n, d);
  ASSERT_EQ(table.sizes(), torch::IntArrayRef({1, n, d}));
  ASSERT_EQ(table.scalar_type(), torch::kFloat32);
  auto acc = table.accessor<float, 3>();
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t j = 0; j < d; ++j) {
      const double exponent = 2.0 * static_cast<double>(j / 2) / static_cast<double>(d);
      const double angle = static_cast<double>(p) / std::pow(10000.0, exponent);
      const double expected = (j % 2 == 0) ? std::sin(angle) : std::cos(angle);
      EXPECT_EQ(acc[0][p][j], static_cast<float>(expected)) << "p=" << p << " j=" << j;
    }
  }
}

TEST(SinusoidTest, ChannelsAreInterleavedNotSplit) {
  const torch::Tensor table = SinusoidTable(4, 8);
  // Position 1, channels 0 and 1 share the angle 1 / 10000^0 = 1.
  EXPECT_FLOAT_EQ(table[0][1][0].item<float>(), static_cast<float>(std::sin(1.0)));
  EXPECT_FLOAT_EQ(table[0][1][1].item<float>(), static_cast<float>(std::cos(1.0)));
  // Position 0 is sin 0 = 0 on even channels and cos 0 = 1 on odd ones.
  for (int64_t j = 0; j < 8; ++j) {
    EXPECT_EQ(table[0][0][j].item<float>(), j % 2 == 0 ? 0.0f : 1.0f);
  }
}

TEST(SinusoidTest, PositionTableFollowsDtypeWithoutGrad) {
  PositionTable table(6, 4);
  const torch::Tensor t = table.For(torch::kCPU, torch::kFloat64);
  EXPECT_EQ(t.scalar_type(), torch::kFloat64);
  EXPECT_FALSE(t.requires_grad());
  EXPECT_TRUE(torch::allclose(t.to(torch::kFloat32), SinusoidTable(6, 4)));
}

}  // namespace
}  // namespace vmae::model
