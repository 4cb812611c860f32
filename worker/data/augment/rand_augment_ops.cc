#include "worker/data/augment/rand_augment_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vmae::data {
namespace {

using Lut = std::array<uint8_t, 256>;

size_t NumValues(int height, int width) {
  return static_cast<size_t>(height) * static_cast<size_t>(width) * 3;
}

void ApplyLut(uint8_t* image, int height, int width, const Lut& lut) {
  const size_t n = NumValues(height, width);
  for (size_t i = 0; i < n; ++i) {
    image[i] = lut[image[i]];
  }
}

void ApplyChannelLuts(uint8_t* image, int height, int width, const std::array<Lut, 3>& luts) {
  const size_t pixels = static_cast<size_t>(height) * static_cast<size_t>(width);
  for (size_t p = 0; p < pixels; ++p) {
    uint8_t* px = image + p * 3;
    px[0] = luts[0][px[0]];
    px[1] = luts[1][px[1]];
    px[2] = luts[2][px[2]];
  }
}

// histograms[c][v]: how many pixels have value v in channel c.
std::array<std::array<int64_t, 256>, 3> ChannelHistograms(const uint8_t* image, int height,
                                                          int width) {
  std::array<std::array<int64_t, 256>, 3> h{};
  const size_t pixels = static_cast<size_t>(height) * static_cast<size_t>(width);
  for (size_t p = 0; p < pixels; ++p) {
    ++h[0][image[p * 3]];
    ++h[1][image[p * 3 + 1]];
    ++h[2][image[p * 3 + 2]];
  }
  return h;
}

Lut IdentityLut() {
  Lut lut;
  for (int i = 0; i < 256; ++i) {
    lut[i] = static_cast<uint8_t>(i);
  }
  return lut;
}

// Pillow's convert("L") for RGB (Convert.c, L24): ITU-R 601-2 luma in 16-bit
// fixed point, rounded.
inline int Luma(const uint8_t* px) {
  return (px[0] * 19595 + px[1] * 38470 + px[2] * 7471 + 0x8000) >> 16;
}

// One value of Pillow's ImagingBlend(degenerate, image, alpha). Pillow takes
// alpha as a C float and computes in single precision, then truncates
// (clipping only matters when extrapolating, alpha outside [0, 1]); the cast
// and the operand order are kept so results match bit for bit.
inline uint8_t BlendValue(int degenerate, int value, float alpha) {
  const float t = static_cast<float>(degenerate) + alpha * static_cast<float>(value - degenerate);
  if (t <= 0.0f) {
    return 0;
  }
  if (t >= 255.0f) {
    return 255;
  }
  return static_cast<uint8_t>(t);
}

// The enhance ops whose degenerate image is one constant reduce to a lut.
Lut BlendWithConstantLut(int degenerate, double factor) {
  const float alpha = static_cast<float>(factor);
  Lut lut;
  for (int v = 0; v < 256; ++v) {
    lut[v] = BlendValue(degenerate, v, alpha);
  }
  return lut;
}

inline uint8_t ClipToByte(double v) {
  if (v <= 0.0) {
    return 0;
  }
  if (v >= 255.0) {
    return 255;
  }
  return static_cast<uint8_t>(v);
}

// Pillow's FLOOR macro (Geometry.c): casts instead of calling floor() for
// non-negative values; same result.
inline int Floor(double v) {
  return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v);
}

inline int Clamp(int v, int hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// Pillow's bilinear_filter32RGB: (sx, sy) is already known to lie inside the
// image. Pixel centres are at +0.5, so the sample is shifted by half a pixel
// before taking the four neighbours; neighbours outside the image are clamped
// to the edge. The result is truncated, not rounded, as Pillow does.
inline void SampleBilinear(const uint8_t* src, int height, int width, double sx, double sy,
                           uint8_t* out) {
  sx -= 0.5;
  sy -= 0.5;
  const int x = Floor(sx);
  const int y = Floor(sy);
  const double dx = sx - x;
  const double dy = sy - y;
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  const int x0 = Clamp(x, width - 1) * 3;
  const int x1 = Clamp(x + 1, width - 1) * 3;
  const uint8_t* r0 = src + static_cast<size_t>(Clamp(y, height - 1)) * row_bytes;
  const uint8_t* r1 = src + static_cast<size_t>(Clamp(y + 1, height - 1)) * row_bytes;
  for (int c = 0; c < 3; ++c) {
    const double v1 = r0[x0 + c] + (r0[x1 + c] - r0[x0 + c]) * dx;
    const double v2 = r1[x0 + c] + (r1[x1 + c] - r1[x0 + c]) * dx;
    out[c] = ClipToByte(v1 + (v2 - v1) * dy);
  }
}

// Pillow's BICUBIC macro: the a = -1 cubic convolution through v1..v4 at
// fraction d in [0, 1) between v2 and v3. The operation order is Pillow's.
inline double Cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2;
  const double p2 = -v1 + v3;
  const double p3 = 2 * (v1 - v2) + v3 - v4;
  const double p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// Pillow's bicubic_filter32RGB: 4x4 neighbours (edge-clamped) around the
// half-pixel-shifted sample, rows first, then the column; clipped and
// truncated.
inline void SampleBicubic(const uint8_t* src, int height, int width, double sx, double sy,
                          uint8_t* out) {
  sx -= 0.5;
  sy -= 0.5;
  const int x = Floor(sx) - 1;
  const int y = Floor(sy) - 1;
  const double dx = sx - (x + 1);
  const double dy = sy - (y + 1);
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  int xs[4];
  const uint8_t* rows[4];
  for (int i = 0; i < 4; ++i) {
    xs[i] = Clamp(x + i, width - 1) * 3;
    rows[i] = src + static_cast<size_t>(Clamp(y + i, height - 1)) * row_bytes;
  }
  for (int c = 0; c < 3; ++c) {
    double v[4];
    for (int i = 0; i < 4; ++i) {
      const uint8_t* r = rows[i];
      v[i] = Cubic(r[xs[0] + c], r[xs[1] + c], r[xs[2] + c], r[xs[3] + c], dx);
    }
    out[c] = ClipToByte(Cubic(v[0], v[1], v[2], v[3], dy));
  }
}

// Python's round(v, 15): the nearest double to v correctly rounded to 15
// decimals. glibc's printf rounds exactly, as Python's dtoa does.
double RoundTo15Decimals(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.15f", v);
  return std::strtod(buf, nullptr);
}

void Rotate180(const uint8_t* src, uint8_t* dst, int height, int width) {
  const size_t pixels = static_cast<size_t>(height) * static_cast<size_t>(width);
  for (size_t p = 0; p < pixels; ++p) {
    std::memcpy(dst + p * 3, src + (pixels - 1 - p) * 3, 3);
  }
}

// Pillow's transpose(ROTATE_90) (counter-clockwise) of a square image:
// out[row j][col i] = in[row i][col n-1-j]; ROTATE_270 (clockwise):
// out[row j][col i] = in[row n-1-i][col j].
void RotateQuarter(const uint8_t* src, uint8_t* dst, int n, bool counter_clockwise) {
  for (int j = 0; j < n; ++j) {
    for (int i = 0; i < n; ++i) {
      const int sr = counter_clockwise ? i : n - 1 - i;
      const int sc = counter_clockwise ? n - 1 - j : j;
      std::memcpy(dst + (static_cast<size_t>(j) * n + i) * 3,
                  src + (static_cast<size_t>(sr) * n + sc) * 3, 3);
    }
  }
}

}  // namespace

void AutoContrast(uint8_t* image, int height, int width) {
  const auto hist = ChannelHistograms(image, height, width);
  std::array<Lut, 3> luts;
  for (int c = 0; c < 3; ++c) {
    int lo = 0;
    while (lo < 256 && hist[c][lo] == 0) {
      ++lo;
    }
    int hi = 255;
    while (hi >= 0 && hist[c][hi] == 0) {
      --hi;
    }
    if (hi <= lo) {
      luts[c] = IdentityLut();
      continue;
    }
    // ImageOps.autocontrast, in Python doubles: int() truncates towards zero.
    const double scale = 255.0 / (hi - lo);
    const double offset = -lo * scale;
    for (int i = 0; i < 256; ++i) {
      const int v = static_cast<int>(i * scale + offset);
      luts[c][i] = static_cast<uint8_t>(std::clamp(v, 0, 255));
    }
  }
  ApplyChannelLuts(image, height, width, luts);
}

void Equalize(uint8_t* image, int height, int width) {
  const auto hist = ChannelHistograms(image, height, width);
  std::array<Lut, 3> luts;
  for (int c = 0; c < 3; ++c) {
    int64_t total = 0;
    int occupied = 0;
    int64_t last = 0;  // count of the highest occupied value
    for (int v = 0; v < 256; ++v) {
      if (hist[c][v] != 0) {
        total += hist[c][v];
        ++occupied;
        last = hist[c][v];
      }
    }
    const int64_t step = occupied <= 1 ? 0 : (total - last) / 255;
    if (step == 0) {
      luts[c] = IdentityLut();
      continue;
    }
    // Values past the highest occupied one can exceed 255; Pillow's point()
    // clips lut entries to a byte.
    int64_t n = step / 2;
    for (int v = 0; v < 256; ++v) {
      luts[c][v] = static_cast<uint8_t>(std::min<int64_t>(n / step, 255));
      n += hist[c][v];
    }
  }
  ApplyChannelLuts(image, height, width, luts);
}

void Invert(uint8_t* image, int height, int width) {
  const size_t n = NumValues(height, width);
  for (size_t i = 0; i < n; ++i) {
    image[i] = static_cast<uint8_t>(255 - image[i]);
  }
}

void Posterize(uint8_t* image, int height, int width, int bits) {
  if (bits >= 8) {
    return;
  }
  const int keep = std::max(bits, 0);
  const uint8_t mask = static_cast<uint8_t>(~((1 << (8 - keep)) - 1));
  const size_t n = NumValues(height, width);
  for (size_t i = 0; i < n; ++i) {
    image[i] &= mask;
  }
}

void Solarize(uint8_t* image, int height, int width, int threshold) {
  Lut lut;
  for (int i = 0; i < 256; ++i) {
    lut[i] = static_cast<uint8_t>(i < threshold ? i : 255 - i);
  }
  ApplyLut(image, height, width, lut);
}

void SolarizeAdd(uint8_t* image, int height, int width, int add, int threshold) {
  Lut lut;
  for (int i = 0; i < 256; ++i) {
    lut[i] = static_cast<uint8_t>(i < threshold ? std::clamp(i + add, 0, 255) : i);
  }
  ApplyLut(image, height, width, lut);
}

void Color(uint8_t* image, int height, int width, double factor) {
  const float alpha = static_cast<float>(factor);
  const size_t pixels = static_cast<size_t>(height) * static_cast<size_t>(width);
  for (size_t p = 0; p < pixels; ++p) {
    uint8_t* px = image + p * 3;
    const int l = Luma(px);
    px[0] = BlendValue(l, px[0], alpha);
    px[1] = BlendValue(l, px[1], alpha);
    px[2] = BlendValue(l, px[2], alpha);
  }
}

void Contrast(uint8_t* image, int height, int width, double factor) {
  // ImageStat's mean of the L image: an exact integer sum divided in double.
  const size_t pixels = static_cast<size_t>(height) * static_cast<size_t>(width);
  int64_t sum = 0;
  for (size_t p = 0; p < pixels; ++p) {
    sum += Luma(image + p * 3);
  }
  const double mean = pixels == 0 ? 0.0 : static_cast<double>(sum) / static_cast<double>(pixels);
  const int degenerate = static_cast<int>(mean + 0.5);
  ApplyLut(image, height, width, BlendWithConstantLut(degenerate, factor));
}

void Brightness(uint8_t* image, int height, int width, double factor) {
  ApplyLut(image, height, width, BlendWithConstantLut(0, factor));
}

void Sharpness(const uint8_t* src, uint8_t* dst, int height, int width, double factor) {
  std::memcpy(dst, src, NumValues(height, width));
  if (height < 3 || width < 3) {
    return;  // Pillow's filter returns a copy of images smaller than the kernel
  }
  const float alpha = static_cast<float>(factor);
  // Pillow divides the integer kernel by its scale in float (_imaging.c
  // _filter) and accumulates in float from 0.5 (its rounding offset), one
  // row of three at a time starting with the row below (Filter.c
  // ImagingFilter3x3); the same order keeps the smoothed values exact.
  const float k = 1.0f / 13.0f;
  const float k_centre = 5.0f / 13.0f;
  const size_t row_bytes = static_cast<size_t>(width) * 3;
  for (int y = 1; y < height - 1; ++y) {
    const uint8_t* above = src + (y - 1) * row_bytes;
    const uint8_t* mid = src + y * row_bytes;
    const uint8_t* below = src + (y + 1) * row_bytes;
    uint8_t* out = dst + y * row_bytes;
    for (size_t i = 3; i < row_bytes - 3; ++i) {
      float ss = 0.5f;
      ss += static_cast<float>(below[i - 3]) * k + static_cast<float>(below[i]) * k +
            static_cast<float>(below[i + 3]) * k;
      ss += static_cast<float>(mid[i - 3]) * k + static_cast<float>(mid[i]) * k_centre +
            static_cast<float>(mid[i + 3]) * k;
      ss += static_cast<float>(above[i - 3]) * k + static_cast<float>(above[i]) * k +
            static_cast<float>(above[i + 3]) * k;
      const uint8_t smooth = ss <= 0.0f ? 0 : (ss >= 255.0f ? 255 : static_cast<uint8_t>(ss));
      out[i] = BlendValue(smooth, mid[i], alpha);
    }
  }
}

void AffineTransform(const uint8_t* src, uint8_t* dst, int height, int width,
                     const std::array<double, 6>& matrix, Resample resample, const Rgb& fill) {
  const double a0 = matrix[0], a1 = matrix[1], a2 = matrix[2];
  const double a3 = matrix[3], a4 = matrix[4], a5 = matrix[5];
  for (int y = 0; y < height; ++y) {
    uint8_t* out = dst + static_cast<size_t>(y) * width * 3;
    const double yin = y + 0.5;
    for (int x = 0; x < width; ++x, out += 3) {
      // Pillow's affine_transform (Geometry.c) maps the output pixel centre.
      const double xin = x + 0.5;
      const double sx = a0 * xin + a1 * yin + a2;
      const double sy = a3 * xin + a4 * yin + a5;
      if (sx < 0.0 || sx >= width || sy < 0.0 || sy >= height) {
        out[0] = fill[0];
        out[1] = fill[1];
        out[2] = fill[2];
      } else if (resample == Resample::kBilinear) {
        SampleBilinear(src, height, width, sx, sy, out);
      } else {
        SampleBicubic(src, height, width, sx, sy, out);
      }
    }
  }
}

void Rotate(const uint8_t* src, uint8_t* dst, int height, int width, double degrees,
            Resample resample, const Rgb& fill) {
  // Image.rotate: Python's float modulo keeps the angle in [0, 360).
  double angle = std::fmod(degrees, 360.0);
  if (angle < 0.0) {
    angle += 360.0;
  }
  if (angle == 0.0) {
    std::memcpy(dst, src, NumValues(height, width));
    return;
  }
  if (angle == 180.0) {
    Rotate180(src, dst, height, width);
    return;
  }
  if ((angle == 90.0 || angle == 270.0) && width == height) {
    RotateQuarter(src, dst, width, angle == 90.0);
    return;
  }
  // The inverse (output -> input) rotation about the centre, with Pillow's
  // rounding of the cosines to 15 decimals and its order of operations.
  const double rad = -(angle * (M_PI / 180.0));
  const double cx = width / 2.0;
  const double cy = height / 2.0;
  std::array<double, 6> m = {
      RoundTo15Decimals(std::cos(rad)),  RoundTo15Decimals(std::sin(rad)), 0.0,
      RoundTo15Decimals(-std::sin(rad)), RoundTo15Decimals(std::cos(rad)), 0.0};
  const double c = m[0] * -cx + m[1] * -cy + m[2];
  const double f = m[3] * -cx + m[4] * -cy + m[5];
  m[2] = c + cx;
  m[5] = f + cy;
  AffineTransform(src, dst, height, width, m, resample, fill);
}

void ShearX(const uint8_t* src, uint8_t* dst, int height, int width, double factor,
            Resample resample, const Rgb& fill) {
  AffineTransform(src, dst, height, width, {1, factor, 0, 0, 1, 0}, resample, fill);
}

void ShearY(const uint8_t* src, uint8_t* dst, int height, int width, double factor,
            Resample resample, const Rgb& fill) {
  AffineTransform(src, dst, height, width, {1, 0, 0, factor, 1, 0}, resample, fill);
}

void TranslateX(const uint8_t* src, uint8_t* dst, int height, int width, double pixels,
                Resample resample, const Rgb& fill) {
  AffineTransform(src, dst, height, width, {1, 0, pixels, 0, 1, 0}, resample, fill);
}

void TranslateY(const uint8_t* src, uint8_t* dst, int height, int width, double pixels,
                Resample resample, const Rgb& fill) {
  AffineTransform(src, dst, height, width, {1, 0, 0, 0, 1, pixels}, resample, fill);
}

}  // namespace vmae::data
