// The image operations of timm's RandAugment (timm 0.4.12 auto_augment.py, as
// copied into VideoMAE), reimplemented bit for bit after Pillow 9.4, which is
// what the reference pipeline runs: ImageOps (autocontrast, equalize, invert,
// posterize, solarize), ImageEnhance (Color, Contrast, Brightness, Sharpness)
// and Image.transform(AFFINE) with bilinear or bicubic resampling.
//
// Every function works on one packed RGB24 image: `height` rows of `width`
// pixels, rows width * 3 bytes apart, no padding. Point operations work in
// place; operations that read neighbouring pixels take a separate `dst` of the
// same size, which must not overlap `src`. Thread-compatible: no shared state.
#ifndef VMAE_WORKER_DATA_AUGMENT_RAND_AUGMENT_OPS_H_
#define VMAE_WORKER_DATA_AUGMENT_RAND_AUGMENT_OPS_H_

#include <array>
#include <cstdint>

namespace vmae::data {

using Rgb = std::array<uint8_t, 3>;

// Pillow's resampling filters for geometric transforms (Geometry.c).
enum class Resample { kBilinear, kBicubic };

// ---- Point operations (in place) ----

// ImageOps.autocontrast(cutoff=0): per channel, maps [min, max] linearly onto
// [0, 255] (lut[i] = int(i * 255 / (max - min) - min * scale), clipped); a
// channel with a single value is left alone.
void AutoContrast(uint8_t* image, int height, int width);

// ImageOps.equalize: per-channel histogram equalisation with Pillow's lut:
// step = (count - count of the highest occupied value) / 255, and
// lut[i] = (step / 2 + number of values below i) / step (integer divisions),
// clipped to 255. A channel with one occupied value, or step 0, is left alone.
void Equalize(uint8_t* image, int height, int width);

// ImageOps.invert: v -> 255 - v.
void Invert(uint8_t* image, int height, int width);

// ImageOps.posterize: keeps the top `bits` bits (0..8) of every value.
void Posterize(uint8_t* image, int height, int width, int bits);

// ImageOps.solarize: values >= threshold become 255 - v (threshold 256: none).
void Solarize(uint8_t* image, int height, int width, int threshold);

// timm's solarize_add: values < threshold become min(255, v + add).
void SolarizeAdd(uint8_t* image, int height, int width, int add, int threshold = 128);

// ---- ImageEnhance (blend of the image with a degenerate version) ----
// Pillow's Image.blend(degenerate, image, factor): out = d + factor * (v - d)
// in single precision, truncated towards zero and clipped to [0, 255].

// Color: the degenerate image is the grayscale L = (19595 R + 38470 G + 7471 B
// + 32768) >> 16 (Pillow's convert("L")) in all three channels.
void Color(uint8_t* image, int height, int width, double factor);

// Contrast: the degenerate image is the constant int(mean(L) + 0.5).
void Contrast(uint8_t* image, int height, int width, double factor);

// Brightness: the degenerate image is black.
void Brightness(uint8_t* image, int height, int width, double factor);

// Sharpness: the degenerate image is ImageFilter.SMOOTH (3x3 kernel
// [[1,1,1],[1,5,1],[1,1,1]] / 13, rounded; the border rows and columns are
// copied unchanged).
void Sharpness(const uint8_t* src, uint8_t* dst, int height, int width, double factor);

// ---- Geometric operations (src -> dst) ----

// Image.transform(size, AFFINE, matrix, resample, fillcolor=fill): output
// pixel (x, y) samples the input at (a x' + b y' + c, d x' + e y' + f), where
// x' = x + 0.5 and y' = y + 0.5 are the pixel centre and matrix = {a, b, c,
// d, e, f}; a sample point outside [0, width) x [0, height) gives `fill`.
void AffineTransform(const uint8_t* src, uint8_t* dst, int height, int width,
                     const std::array<double, 6>& matrix, Resample resample, const Rgb& fill);

// Image.rotate(degrees, resample, fillcolor=fill): counter-clockwise about the
// image centre (width / 2, height / 2), same size. Like Pillow, 0 and 180
// degrees (and 90 or 270 on square images) are exact pixel copies.
void Rotate(const uint8_t* src, uint8_t* dst, int height, int width, double degrees,
            Resample resample, const Rgb& fill);

// timm's shear_x / shear_y: matrix (1, factor, 0, 0, 1, 0) / (1, 0, 0, factor, 1, 0).
void ShearX(const uint8_t* src, uint8_t* dst, int height, int width, double factor,
            Resample resample, const Rgb& fill);
void ShearY(const uint8_t* src, uint8_t* dst, int height, int width, double factor,
            Resample resample, const Rgb& fill);

// timm's translate_x_abs / translate_y_abs: output(x, y) = input(x + pixels, y)
// (resp. y + pixels), so positive `pixels` moves the content left (up).
void TranslateX(const uint8_t* src, uint8_t* dst, int height, int width, double pixels,
                Resample resample, const Rgb& fill);
void TranslateY(const uint8_t* src, uint8_t* dst, int height, int width, double pixels,
                Resample resample, const Rgb& fill);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_AUGMENT_RAND_AUGMENT_OPS_H_
