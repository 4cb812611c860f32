#include "worker/model/sinusoid.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace vmae::model {

at::Tensor SinusoidTable(int64_t n, int64_t d) {
  TORCH_CHECK(n >= 0 && d > 0, "SinusoidTable: need n >= 0 and d > 0, got n=", n, " d=", d);
  std::vector<double> values(static_cast<size_t>(n * d));
  // One exponent per channel pair; the same double arithmetic as numpy's
  // position / np.power(10000, 2 * (j // 2) / d).
  std::vector<double> denom(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) {
    denom[j] = std::pow(10000.0, static_cast<double>(2 * (j / 2)) / static_cast<double>(d));
  }
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t j = 0; j < d; ++j) {
      const double angle = static_cast<double>(p) / denom[j];
      values[p * d + j] = (j % 2 == 0) ? std::sin(angle) : std::cos(angle);
    }
  }
  return torch::from_blob(values.data(), {1, n, d}, torch::kFloat64).to(torch::kFloat32);
}

at::Tensor PositionTable::For(c10::Device device, c10::ScalarType dtype) {
  TORCH_CHECK(table_.defined(), "PositionTable used before it was built");
  if (table_.device() != device) {
    table_ = table_.to(device);
  }
  return table_.scalar_type() == dtype ? table_ : table_.to(dtype);
}

}  // namespace vmae::model
