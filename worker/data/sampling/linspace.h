// numpy.linspace(start, stop, num) with endpoint=True, bit for bit as numpy
// 1.24 computes it, because the authors' frame indices are truncations of its
// values and a different rounding would move a frame.
#ifndef VMAE_WORKER_DATA_SAMPLING_LINSPACE_H_
#define VMAE_WORKER_DATA_SAMPLING_LINSPACE_H_

#include <cstdint>
#include <vector>

namespace vmae::data {

// step = (stop - start) / (num - 1); value i = i * step + start, and the last
// value is set to `stop` exactly when num > 1. num == 1 gives {start};
// num <= 0 gives {}. (numpy: y = arange(num) * step; y += start; y[-1] = stop.)
std::vector<double> NumpyLinspace(double start, double stop, int64_t num);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_SAMPLING_LINSPACE_H_
