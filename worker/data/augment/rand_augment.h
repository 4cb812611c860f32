// RandAugment for video clips, as VideoMAE fine-tuning uses it: timm 0.4.12's
// rand_augment_transform ("rand-m7-n4-mstd0.5-inc1") with one random draw per
// clip, applied with the same ops and parameters to every frame.
//
// What is reproduced from timm (auto_augment.py) and VideoMAE's copy of it:
// - RandAugment.__call__: num_layers ops chosen uniformly with replacement.
// - AugmentOp.__call__: skipped when Uniform() > prob; otherwise the magnitude
//   is Normal(magnitude, magnitude_std) (Uniform(0, magnitude) when the std is
//   infinite), clipped to [0, 10] (_MAX_LEVEL), and turned into the op's
//   argument by its level function (see RandAugmentOp below).
// - VideoMAE's clip version computes the level arguments once per op and maps
//   the op over the frames. Unlike VideoMAE, which lets timm draw the
//   interpolation of a geometric op again for every frame, the interpolation
//   is drawn once per op here too, so that identical frames stay identical.
//
// The random draws, all made before any frame is touched, in this order:
//   1. for each layer: op = ops[Below(num_ops)];
//   2. for each layer: if prob < 1, Uniform(); the layer is skipped when it
//      is > prob and makes no further draws. Then, when magnitude_std != 0,
//      the magnitude (one Normal(), or one Uniform() for an infinite std);
//      then one Uniform() for the sign, negative when > 0.5, for ops with a
//      signed level; then, for geometric ops under kRandom interpolation,
//      Below(2): 0 bilinear, 1 bicubic.
#ifndef VMAE_WORKER_DATA_AUGMENT_RAND_AUGMENT_H_
#define VMAE_WORKER_DATA_AUGMENT_RAND_AUGMENT_H_

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/random/counter_random.h"
#include "worker/data/augment/rand_augment_ops.h"

namespace vmae::data {

// The 15 ops of timm's _RAND_TRANSFORMS / _RAND_INCREASING_TRANSFORMS, in
// that order. Level functions (m = magnitude in [0, 10], "+-" = random sign):
//   kAutoContrast, kEqualize, kInvert: no argument.
//   kRotate:      +-(m / 10) * 30 degrees.
//   kPosterize:   increasing: 4 - int((m / 10) * 4) bits; else int((m / 10) * 4).
//   kSolarize:    increasing: 256 - int((m / 10) * 256); else int((m / 10) * 256).
//   kSolarizeAdd: int((m / 10) * 110) added below 128.
//   kColor, kContrast, kBrightness, kSharpness: increasing: factor
//                 1 +- (m / 10) * 0.9; else (m / 10) * 1.8 + 0.1 (no sign).
//   kShearX, kShearY: +-(m / 10) * 0.3.
//   kTranslateXRel, kTranslateYRel: +-(m / 10) * 0.45 of the width (height).
//                 timm's Rel variants read hparams['translate_pct'] (default
//                 0.45), never translate_const, which only the absolute
//                 TranslateX/TranslateY (not among these ops) use.
enum class RandAugmentOp {
  kAutoContrast,
  kEqualize,
  kInvert,
  kRotate,
  kPosterize,
  kSolarize,
  kSolarizeAdd,
  kColor,
  kContrast,
  kBrightness,
  kSharpness,
  kShearX,
  kShearY,
  kTranslateXRel,
  kTranslateYRel,
};
inline constexpr int kNumRandAugmentOps = 15;

// timm's name of the op ("Rotate", "PosterizeIncreasing", ...).
std::string_view RandAugmentOpName(RandAugmentOp op, bool increasing);

// How geometric ops resample. timm's default (no 'interpolation' hparam) is
// _RANDOM_INTERPOLATION, a choice of bilinear or bicubic per op; VideoMAE's
// create_random_augment fixes it to its train_interpolation (bicubic).
enum class RandAugmentInterpolation { kRandom, kBilinear, kBicubic };

struct RandAugmentConfig {
  int magnitude = 7;           // Default: 7 ("m7").
  int num_layers = 4;          // ops per clip. Default: 4 ("n4").
  double magnitude_std = 0.5;  // 0: fixed; infinity: uniform. Default: 0.5.
  bool increasing = true;      // _RAND_INCREASING_TRANSFORMS. Default: true ("inc1").
  double prob = 0.5;           // chance each chosen op runs. Default: 0.5.
  // int(image_size * 0.45), as create_random_augment passes it. Kept for
  // parity with timm's hparams; none of the 15 ops reads it. Default: 100.
  int translate_const = 100;
  // Colour of pixels that geometric ops bring in from outside the image:
  // timm's img_mean hparam, ImageNet's mean * 255 rounded. (VideoMAE's own
  // create_random_augment passes no img_mean, which gives timm's _FILL,
  // 128 grey.) Default: {124, 116, 104}.
  Rgb fill = {124, 116, 104};
  RandAugmentInterpolation interpolation = RandAugmentInterpolation::kRandom;  // Default: kRandom.
};

// Parses timm's config string: "rand" followed by "-"-separated sections
// m<int> (magnitude), n<int> (num_layers), mstd<float> (magnitude_std; as in
// later timm, above 100 means infinite) and inc<int> (nonzero: increasing
// ops). Unlike timm 0.4.12, "inc0" selects the plain ops (timm's bool("0")
// is True) and sections timm would silently skip are errors. `image_size` is
// the crop side, for translate_const. Fails with InvalidArgument naming the
// bad section; "w" (weighted op choice) is Unimplemented.
absl::StatusOr<RandAugmentConfig> ParseRandAugment(std::string_view spec, int image_size);

// One chosen layer after its random draws.
struct RandAugmentStep {
  RandAugmentOp op = RandAugmentOp::kAutoContrast;
  bool applied = false;    // false: skipped by prob (nothing below is drawn)
  double magnitude = 0.0;  // after noise and clipping to [0, 10]
  // The op's argument from its level function: degrees, bits, threshold,
  // amount added, enhance factor, shear factor, or the translate fraction.
  double level = 0.0;
  Resample resample = Resample::kBilinear;  // geometric ops only
};

// Makes all the random draws for one clip (see the order above).
std::vector<RandAugmentStep> DrawRandAugment(const RandAugmentConfig& config,
                                             vmae::random::RandomStream& rng);

// Applies the drawn steps, in order, to every frame. Frames are packed RGB24,
// `num_frames` of them, each height x width, contiguous, rows width * 3 bytes
// apart.
void ApplyRandAugment(const std::vector<RandAugmentStep>& steps, const Rgb& fill, uint8_t* frames,
                      int num_frames, int height, int width);

// DrawRandAugment then ApplyRandAugment: one random draw of ops for the
// whole clip. `rng` is the caller's Purpose::kRandAugment stream for
// (seed, epoch, sample, view).
void RandAugmentClip(const RandAugmentConfig& config, vmae::random::RandomStream& rng,
                     uint8_t* frames, int num_frames, int height, int width);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_AUGMENT_RAND_AUGMENT_H_
