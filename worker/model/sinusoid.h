// The fixed 1-D sinusoid position table of VideoMAE.
#ifndef VMAE_WORKER_MODEL_SINUSOID_H_
#define VMAE_WORKER_MODEL_SINUSOID_H_

#include <ATen/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace vmae::model {

// Returns the [1, n, d] float32 table over the flattened token index:
// angle(p, j) = p / 10000^(2 * floor(j / 2) / d); even channels sin(angle),
// odd channels cos(angle) (interleaved, not split in halves). Computed in
// float64 like the authors' numpy code, then rounded to float32.
at::Tensor SinusoidTable(int64_t n, int64_t d);

// A sinusoid table owned by a module but kept out of its parameters and
// buffers, as in the authors' code (a plain tensor attribute): it is not
// learned, not saved, and never in a checkpoint's key set. It follows the
// input's device lazily, and is cast to the input's dtype on use.
// Not thread-safe (the cached copy moves on first use on a new device).
class PositionTable {
 public:
  PositionTable() = default;
  PositionTable(int64_t n, int64_t d) : table_(SinusoidTable(n, d)) {}

  // The table on `device` in `dtype`, shape [1, n, d]; never requires grad.
  at::Tensor For(c10::Device device, c10::ScalarType dtype);
  // The float32 master copy (whatever device it last moved to).
  const at::Tensor& table() const { return table_; }

 private:
  at::Tensor table_;
};

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_SINUSOID_H_
