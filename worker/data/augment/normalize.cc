#include "worker/data/augment/normalize.h"

#include <cstddef>

#include "worker/data/sampling/precondition.h"

namespace vmae::data {
namespace {

// One row of one channel: a strided byte load, a multiply-add and a
// contiguous store, which GCC vectorises at -O2 -ftree-vectorize / -O3 (the
// flipped variant reads backwards). `__restrict` tells it the rows do not
// alias.
void ConvertRow(const uint8_t* __restrict src, int width, float scale, float bias,
                float* __restrict out) {
  for (int x = 0; x < width; ++x) {
    out[x] = static_cast<float>(src[3 * x]) * scale + bias;
  }
}

void ConvertRowFlipped(const uint8_t* __restrict src, int width, float scale, float bias,
                       float* __restrict out) {
  const uint8_t* last = src + 3 * (width - 1);
  for (int x = 0; x < width; ++x) {
    out[x] = static_cast<float>(last[-3 * x]) * scale + bias;
  }
}

}  // namespace

void NormalizeClip(const uint8_t* src, int frames, int height, int width, bool flip, float* dst,
                   const NormalizeOptions& options) {
  Require(src != nullptr && dst != nullptr && frames >= 0 && height >= 1 && width >= 1,
          "NormalizeClip", "need src and dst, frames >= 0 and height, width >= 1");
  const size_t plane = static_cast<size_t>(height) * width;
  const size_t pixels = plane * frames;
  for (int c = 0; c < 3; ++c) {
    const float scale = 1.0f / (255.0f * options.std[c]);
    const float bias = -options.mean[c] / options.std[c];
    for (int t = 0; t < frames; ++t) {
      for (int y = 0; y < height; ++y) {
        const size_t row = static_cast<size_t>(t) * plane + static_cast<size_t>(y) * width;
        const uint8_t* in = src + row * 3 + c;
        float* out = dst + c * pixels + row;
        if (flip) {
          ConvertRowFlipped(in, width, scale, bias, out);
        } else {
          ConvertRow(in, width, scale, bias, out);
        }
      }
    }
  }
}

}  // namespace vmae::data
