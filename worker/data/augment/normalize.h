// From the decoder's packed RGB frames to the model's input layout:
// uint8 [T][H][W][3] -> float [3][T][H][W], (x / 255 - mean[c]) / std[c],
// with an optional horizontal flip folded into the copy.
#ifndef VMAE_WORKER_DATA_AUGMENT_NORMALIZE_H_
#define VMAE_WORKER_DATA_AUGMENT_NORMALIZE_H_

#include <array>
#include <cstdint>

namespace vmae::data {

struct NormalizeOptions {
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};  // Default: ImageNet RGB mean.
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};   // Default: ImageNet RGB std.
};

// `src` holds frames * height * width * 3 bytes; `dst` has room for
// 3 * frames * height * width floats; they must not overlap. Computed in
// float as x * (1 / (255 std)) - mean / std, a multiply-add per value that
// the compiler vectorises, within a few ulp of the formula. With `flip`,
// output column x reads source column width - 1 - x.
void NormalizeClip(const uint8_t* src, int frames, int height, int width, bool flip, float* dst,
                   const NormalizeOptions& options = {});

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_AUGMENT_NORMALIZE_H_
