#include "worker/data/sampling/linspace.h"

#include <cstddef>

namespace vmae::data {

std::vector<double> NumpyLinspace(double start, double stop, int64_t num) {
  std::vector<double> out;
  if (num <= 0) {
    return out;
  }
  out.reserve(static_cast<size_t>(num));
  if (num == 1) {
    out.push_back(start);
    return out;
  }
  const double delta = stop - start;
  const double step = delta / static_cast<double>(num - 1);
  for (int64_t i = 0; i < num; ++i) {
    if (step == 0) {
      // numpy divides first when the step is zero: (i / div) * delta + start.
      out.push_back(static_cast<double>(i) / static_cast<double>(num - 1) * delta + start);
    } else {
      out.push_back(static_cast<double>(i) * step + start);
    }
  }
  out.back() = stop;
  return out;
}

}  // namespace vmae::data
