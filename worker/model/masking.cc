#include "worker/model/masking.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <vector>

namespace vmae::model {
namespace {

// A [n] bool mask with exactly `num_masked` true values at random places.
at::Tensor FixedCountMask(int64_t n, int64_t num_masked, at::Generator& gen) {
  const at::Tensor perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kLong));
  at::Tensor mask = torch::zeros({n}, torch::kBool);
  mask.index_fill_(0, perm.slice(0, 0, num_masked), true);
  return mask;
}

void CheckRatio(double ratio, const char* what) {
  TORCH_CHECK(ratio >= 0.0 && ratio <= 1.0, what, ": ratio must be in [0, 1], got ", ratio);
}

}  // namespace

int64_t NumMasked(int64_t count, double ratio) {
  return static_cast<int64_t>(ratio * static_cast<double>(count));
}

at::Generator MakeGenerator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

at::Tensor TubeMask(int64_t t, int64_t h, int64_t w, double ratio, at::Generator gen) {
  CheckRatio(ratio, "TubeMask");
  TORCH_CHECK(t > 0 && h > 0 && w > 0, "TubeMask: bad grid ", t, "x", h, "x", w);
  const at::Tensor slice = FixedCountMask(h * w, NumMasked(h * w, ratio), gen);
  return slice.repeat({t});
}

at::Tensor TubeMask(int64_t t, int64_t h, int64_t w, double ratio, uint64_t seed) {
  return TubeMask(t, h, w, ratio, MakeGenerator(seed));
}

at::Tensor RandomMask(int64_t n, double ratio, at::Generator gen) {
  CheckRatio(ratio, "RandomMask");
  TORCH_CHECK(n > 0, "RandomMask: need n > 0, got ", n);
  return FixedCountMask(n, NumMasked(n, ratio), gen);
}

at::Tensor RandomMask(int64_t n, double ratio, uint64_t seed) {
  return RandomMask(n, ratio, MakeGenerator(seed));
}

at::Tensor RunningCellDecoderMask(int64_t t, int64_t h, int64_t w, double ratio,
                                  at::Generator gen) {
  const int64_t masks_per_cell = NumMasked(4, ratio);
  TORCH_CHECK(masks_per_cell > 0 && masks_per_cell < 4,
              "RunningCellDecoderMask: need 0 < int(4 * ratio) < 4, got ratio ", ratio);
  TORCH_CHECK(t > 0 && h > 0 && w > 0 && h % 2 == 0 && w % 2 == 0,
              "RunningCellDecoderMask: grid must be positive with even h and w, got ", t, "x", h,
              "x", w);
  // np.random.randint(cell_size) picks one of the 4 precomputed maps.
  const int64_t start = torch::randint(4, {1}, gen, torch::kLong).item<int64_t>();
  std::vector<uint8_t> values(static_cast<size_t>(t * h * w));
  for (int64_t i = 0; i < t; ++i) {
    const int64_t ptr = start + i + 1;  // run_cell() advances before get_cell()
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const int64_t cell_index = (y % 2) * 2 + (x % 2);
        // queue = [1] * masks_per_cell + [0] * rest, read at (index + ptr) % 4.
        const int64_t queue_index = (cell_index + ptr) % 4;
        values[static_cast<size_t>((i * h + y) * w + x)] = queue_index < masks_per_cell ? 1 : 0;
      }
    }
  }
  return torch::tensor(values, torch::kUInt8).to(torch::kBool);
}

at::Tensor RunningCellDecoderMask(int64_t t, int64_t h, int64_t w, double ratio, uint64_t seed) {
  return RunningCellDecoderMask(t, h, w, ratio, MakeGenerator(seed));
}

at::Tensor MaskBatch(MaskType type, int64_t batch, const TokenGrid& grid, double ratio,
                     at::Generator gen) {
  TORCH_CHECK(batch > 0, "MaskBatch: need batch > 0, got ", batch);
  std::vector<at::Tensor> rows;
  rows.reserve(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    rows.push_back(type == MaskType::kTube ? TubeMask(grid.t, grid.h, grid.w, ratio, gen)
                                           : RandomMask(grid.Size(), ratio, gen));
  }
  return torch::stack(rows);
}

at::Tensor RunningCellDecoderMaskBatch(int64_t batch, const TokenGrid& grid, double ratio,
                                       at::Generator gen) {
  TORCH_CHECK(batch > 0, "RunningCellDecoderMaskBatch: need batch > 0, got ", batch);
  std::vector<at::Tensor> rows;
  rows.reserve(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    rows.push_back(RunningCellDecoderMask(grid.t, grid.h, grid.w, ratio, gen));
  }
  return torch::stack(rows);
}

}  // namespace vmae::model
