#include "worker/data/augment/rand_augment.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace vmae::data {
namespace {

constexpr double kMaxLevel = 10.0;  // timm's _MAX_LEVEL
constexpr char kExample[] = "\"rand-m7-n4-mstd0.5-inc1\"";

// A broken invariant is a caller bug: report it and crash.
void CheckOrDie(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "RandAugment: %s\n", what);
    std::abort();
  }
}

bool IsGeometric(RandAugmentOp op) {
  switch (op) {
    case RandAugmentOp::kRotate:
    case RandAugmentOp::kShearX:
    case RandAugmentOp::kShearY:
    case RandAugmentOp::kTranslateXRel:
    case RandAugmentOp::kTranslateYRel:
      return true;
    default:
      return false;
  }
}

bool IsEnhance(RandAugmentOp op) {
  return op == RandAugmentOp::kColor || op == RandAugmentOp::kContrast ||
         op == RandAugmentOp::kBrightness || op == RandAugmentOp::kSharpness;
}

// Whether the op's level function calls _randomly_negate.
bool HasSign(RandAugmentOp op, bool increasing) {
  return IsGeometric(op) || (increasing && IsEnhance(op));
}

// timm's level functions (the *_level_to_arg helpers); `sign` is +1 or -1.
double Level(RandAugmentOp op, bool increasing, double m, double sign) {
  const double frac = m / kMaxLevel;
  switch (op) {
    case RandAugmentOp::kAutoContrast:
    case RandAugmentOp::kEqualize:
    case RandAugmentOp::kInvert:
      return 0.0;
    case RandAugmentOp::kRotate:
      return sign * (frac * 30.0);
    case RandAugmentOp::kPosterize: {
      const int bits = static_cast<int>(frac * 4);
      return increasing ? 4 - bits : bits;
    }
    case RandAugmentOp::kSolarize: {
      const int threshold = static_cast<int>(frac * 256);
      return increasing ? 256 - threshold : threshold;
    }
    case RandAugmentOp::kSolarizeAdd:
      return static_cast<int>(frac * 110);
    case RandAugmentOp::kColor:
    case RandAugmentOp::kContrast:
    case RandAugmentOp::kBrightness:
    case RandAugmentOp::kSharpness:
      return increasing ? 1.0 + sign * (frac * 0.9) : frac * 1.8 + 0.1;
    case RandAugmentOp::kShearX:
    case RandAugmentOp::kShearY:
      return sign * (frac * 0.3);
    case RandAugmentOp::kTranslateXRel:
    case RandAugmentOp::kTranslateYRel:
      return sign * (frac * 0.45);
  }
  return 0.0;
}

absl::Status BadSection(absl::string_view spec, absl::string_view section, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("RandAugment spec \"", spec, "\": section \"", section, "\" ", why,
                   "; expected sections m<int>, n<int>, mstd<float>, inc<int>, e.g. ", kExample));
}

// Applies one step to one frame; `scratch` is a frame-sized buffer.
void ApplyStep(const RandAugmentStep& s, const Rgb& fill, uint8_t* frame, uint8_t* scratch,
               int height, int width) {
  const size_t bytes = static_cast<size_t>(height) * width * 3;
  switch (s.op) {
    case RandAugmentOp::kAutoContrast:
      AutoContrast(frame, height, width);
      return;
    case RandAugmentOp::kEqualize:
      Equalize(frame, height, width);
      return;
    case RandAugmentOp::kInvert:
      Invert(frame, height, width);
      return;
    case RandAugmentOp::kPosterize:
      Posterize(frame, height, width, static_cast<int>(s.level));
      return;
    case RandAugmentOp::kSolarize:
      Solarize(frame, height, width, static_cast<int>(s.level));
      return;
    case RandAugmentOp::kSolarizeAdd:
      SolarizeAdd(frame, height, width, static_cast<int>(s.level));
      return;
    case RandAugmentOp::kColor:
      Color(frame, height, width, s.level);
      return;
    case RandAugmentOp::kContrast:
      Contrast(frame, height, width, s.level);
      return;
    case RandAugmentOp::kBrightness:
      Brightness(frame, height, width, s.level);
      return;
    case RandAugmentOp::kSharpness:
      Sharpness(frame, scratch, height, width, s.level);
      break;
    case RandAugmentOp::kRotate:
      Rotate(frame, scratch, height, width, s.level, s.resample, fill);
      break;
    case RandAugmentOp::kShearX:
      ShearX(frame, scratch, height, width, s.level, s.resample, fill);
      break;
    case RandAugmentOp::kShearY:
      ShearY(frame, scratch, height, width, s.level, s.resample, fill);
      break;
    case RandAugmentOp::kTranslateXRel:
      // timm: pixels = pct * img.size[0] (the width).
      TranslateX(frame, scratch, height, width, s.level * width, s.resample, fill);
      break;
    case RandAugmentOp::kTranslateYRel:
      TranslateY(frame, scratch, height, width, s.level * height, s.resample, fill);
      break;
  }
  std::memcpy(frame, scratch, bytes);
}

}  // namespace

std::string_view RandAugmentOpName(RandAugmentOp op, bool increasing) {
  switch (op) {
    case RandAugmentOp::kAutoContrast:
      return "AutoContrast";
    case RandAugmentOp::kEqualize:
      return "Equalize";
    case RandAugmentOp::kInvert:
      return "Invert";
    case RandAugmentOp::kRotate:
      return "Rotate";
    case RandAugmentOp::kPosterize:
      return increasing ? "PosterizeIncreasing" : "Posterize";
    case RandAugmentOp::kSolarize:
      return increasing ? "SolarizeIncreasing" : "Solarize";
    case RandAugmentOp::kSolarizeAdd:
      return "SolarizeAdd";
    case RandAugmentOp::kColor:
      return increasing ? "ColorIncreasing" : "Color";
    case RandAugmentOp::kContrast:
      return increasing ? "ContrastIncreasing" : "Contrast";
    case RandAugmentOp::kBrightness:
      return increasing ? "BrightnessIncreasing" : "Brightness";
    case RandAugmentOp::kSharpness:
      return increasing ? "SharpnessIncreasing" : "Sharpness";
    case RandAugmentOp::kShearX:
      return "ShearX";
    case RandAugmentOp::kShearY:
      return "ShearY";
    case RandAugmentOp::kTranslateXRel:
      return "TranslateXRel";
    case RandAugmentOp::kTranslateYRel:
      return "TranslateYRel";
  }
  return "?";
}

absl::StatusOr<RandAugmentConfig> ParseRandAugment(std::string_view spec_in, int image_size) {
  // Debian's Abseil has its own string_view type.
  const absl::string_view spec(spec_in.data(), spec_in.size());
  if (image_size <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("RandAugment spec \"", spec,
                                                   "\": image size must be positive, got ",
                                                   image_size, "; pass the crop side"));
  }
  std::vector<absl::string_view> sections = absl::StrSplit(spec, '-');
  if (sections.empty() || sections[0] != "rand") {
    return absl::InvalidArgumentError(
        absl::StrCat("RandAugment spec \"", spec, "\" must start with \"rand\", e.g. ", kExample));
  }
  RandAugmentConfig config;
  config.translate_const = static_cast<int>(image_size * 0.45);
  std::set<absl::string_view> seen;
  for (size_t i = 1; i < sections.size(); ++i) {
    const absl::string_view section = sections[i];
    // timm splits each section at its first digit: key, then value.
    const size_t digit = section.find_first_of("0123456789");
    if (digit == absl::string_view::npos) {
      return BadSection(spec, section, "has no number");
    }
    const absl::string_view key = section.substr(0, digit);
    const absl::string_view value = section.substr(digit);
    if (!seen.insert(key).second) {
      return BadSection(spec, section, "repeats an earlier section");
    }
    if (key == "m" || key == "n" || key == "inc") {
      int v = 0;
      if (!absl::SimpleAtoi(value, &v)) {
        return BadSection(spec, section, "needs a whole number");
      }
      if (key == "m") {
        config.magnitude = v;
      } else if (key == "n") {
        config.num_layers = v;
      } else {
        config.increasing = v != 0;
      }
    } else if (key == "mstd") {
      double v = 0.0;
      if (!absl::SimpleAtod(value, &v) || !(v >= 0.0)) {
        return BadSection(spec, section, "needs a non-negative number");
      }
      config.magnitude_std = v > 100.0 ? std::numeric_limits<double>::infinity() : v;
    } else if (key == "w") {
      return absl::UnimplementedError(
          absl::StrCat("RandAugment spec \"", spec, "\": section \"", section,
                       "\" asks for weighted op choice, which is not supported; remove it"));
    } else {
      return BadSection(spec, section, "is unknown");
    }
  }
  return config;
}

std::vector<RandAugmentStep> DrawRandAugment(const RandAugmentConfig& config,
                                             vmae::random::RandomStream& rng) {
  CheckOrDie(config.num_layers >= 0, "num_layers must be >= 0");
  std::vector<RandAugmentStep> steps(static_cast<size_t>(config.num_layers));
  // np.random.choice(ops, num_layers, replace=True), before any op runs.
  for (RandAugmentStep& s : steps) {
    s.op = static_cast<RandAugmentOp>(rng.Below(kNumRandAugmentOps));
  }
  for (RandAugmentStep& s : steps) {
    if (config.prob < 1.0 && rng.Uniform() > config.prob) {
      continue;
    }
    s.applied = true;
    double m = config.magnitude;
    if (std::isinf(config.magnitude_std)) {
      m = rng.Uniform(0.0, m);
    } else if (config.magnitude_std > 0.0) {
      m = m + config.magnitude_std * rng.Normal();  // random.gauss(m, std)
    }
    s.magnitude = std::min(kMaxLevel, std::max(0.0, m));
    double sign = 1.0;
    if (HasSign(s.op, config.increasing)) {
      sign = rng.Uniform() > 0.5 ? -1.0 : 1.0;  // timm's _randomly_negate
    }
    s.level = Level(s.op, config.increasing, s.magnitude, sign);
    if (IsGeometric(s.op)) {
      switch (config.interpolation) {
        case RandAugmentInterpolation::kRandom:
          s.resample = rng.Below(2) == 0 ? Resample::kBilinear : Resample::kBicubic;
          break;
        case RandAugmentInterpolation::kBilinear:
          s.resample = Resample::kBilinear;
          break;
        case RandAugmentInterpolation::kBicubic:
          s.resample = Resample::kBicubic;
          break;
      }
    }
  }
  return steps;
}

void ApplyRandAugment(const std::vector<RandAugmentStep>& steps, const Rgb& fill, uint8_t* frames,
                      int num_frames, int height, int width) {
  CheckOrDie(num_frames >= 0 && height > 0 && width > 0,
             "frames must have a positive size and a non-negative count");
  const bool any =
      std::any_of(steps.begin(), steps.end(), [](const RandAugmentStep& s) { return s.applied; });
  if (!any || num_frames == 0) {
    return;
  }
  const size_t frame_bytes = static_cast<size_t>(height) * width * 3;
  std::vector<uint8_t> scratch(frame_bytes);
  // Frame by frame, all steps: one frame stays in cache through the chain.
  for (int f = 0; f < num_frames; ++f) {
    uint8_t* frame = frames + static_cast<size_t>(f) * frame_bytes;
    for (const RandAugmentStep& s : steps) {
      if (s.applied) {
        ApplyStep(s, fill, frame, scratch.data(), height, width);
      }
    }
  }
}

void RandAugmentClip(const RandAugmentConfig& config, vmae::random::RandomStream& rng,
                     uint8_t* frames, int num_frames, int height, int width) {
  ApplyRandAugment(DrawRandAugment(config, rng), config.fill, frames, num_frames, height, width);
}

}  // namespace vmae::data
