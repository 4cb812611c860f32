#include "worker/train/mixup.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace vmae::train {
namespace {

// math.pi
constexpr double kPi = 3.141592653589793;

bool InUnitInterval(double v) { return std::isfinite(v) && v >= 0.0 && v <= 1.0; }

// The splitmix64 output function: a bijection on 64 bits that scatters
// nearby inputs (seed, seed + 1, step, step + 1) far apart, so consecutive
// steps do not seed the engine with nearly equal words.
uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The random source of one step. std::mt19937_64's output sequence is fixed
// by the standard, but std::uniform_real_distribution, std::gamma_distribution
// and friends are not (libstdc++ and libc++ draw differently), so the
// distributions are written out here on top of the raw engine.
class StepRng {
 public:
  StepRng(uint64_t seed, int64_t step)
      : engine_(SplitMix64(SplitMix64(seed) ^ static_cast<uint64_t>(step))) {}

  // Uniform on [0, 1): the top 53 bits of one engine word.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

  // Uniform on (0, 1): safe to take the log of.
  double UniformOpen() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53; }

  // Uniform integer on [0, n), n >= 1 (numpy's randint(0, n)), by rejection
  // so that no value is favoured by the modulo.
  int64_t UniformInt(int64_t n) {
    const uint64_t range = static_cast<uint64_t>(n);
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    const uint64_t limit = max - max % range;  // a multiple of range
    uint64_t r = engine_();
    while (r >= limit) {
      r = engine_();
    }
    return static_cast<int64_t>(r % range);
  }

  // Standard normal by Box-Muller (one of the pair is used).
  double Normal() {
    const double u1 = UniformOpen();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * kPi * u2);
  }

  // Gamma(shape, 1) by Marsaglia and Tsang (2000); shapes below 1 are
  // boosted to shape + 1 and scaled back by U^(1 / shape).
  double Gamma(double shape) {
    if (shape < 1.0) {
      const double boosted = Gamma(shape + 1.0);
      return boosted * std::pow(UniformOpen(), 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      const double x = Normal();
      double v = 1.0 + c * x;
      if (v <= 0.0) {
        continue;
      }
      v = v * v * v;
      const double u = UniformOpen();
      const double x2 = x * x;
      if (u < 1.0 - 0.0331 * x2 * x2 || std::log(u) < 0.5 * x2 + d * (1.0 - v + std::log(v))) {
        return d * v;
      }
    }
  }

  // Beta(a, b) as X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b).
  double Beta(double a, double b) {
    while (true) {
      const double x = Gamma(a);
      const double y = Gamma(b);
      // Both can underflow to 0 only for tiny shapes; draw again then.
      if (x + y > 0.0) {
        return x / (x + y);
      }
    }
  }

 private:
  std::mt19937_64 engine_;
};

absl::Status ValidateClips(const torch::Tensor& clips) {
  if (!clips.defined() || clips.dim() != 5) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: clips must be [B, C, T, H, W]; got %d dimensions",
                        clips.defined() ? clips.dim() : 0));
  }
  if (!clips.is_floating_point()) {
    return absl::InvalidArgumentError("mixup: clips must be floating point");
  }
  // timm's Mixup.__call__: assert len(x) % 2 == 0, 'Batch size should be
  // even when using this' (each clip is paired with its mirror).
  if (clips.size(0) % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mixup: batch size should be even when using mixup; got %d", clips.size(0)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMixupOptions(const MixupOptions& options) {
  if (!std::isfinite(options.mixup_alpha) || options.mixup_alpha < 0.0 ||
      !std::isfinite(options.cutmix_alpha) || options.cutmix_alpha < 0.0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: alphas must be finite and >= 0; got mixup %g, cutmix %g",
                        options.mixup_alpha, options.cutmix_alpha));
  }
  // timm's _params_per_batch asserts this; the authors build no Mixup then.
  if (options.mixup_alpha == 0.0 && options.cutmix_alpha == 0.0) {
    return absl::InvalidArgumentError("mixup: one of mixup_alpha, cutmix_alpha must be > 0");
  }
  if (!InUnitInterval(options.prob) || !InUnitInterval(options.switch_prob)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: prob and switch_prob must be in [0, 1]; got %g, %g", options.prob,
                        options.switch_prob));
  }
  if (!InUnitInterval(options.label_smoothing) || options.label_smoothing == 1.0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mixup: label_smoothing must be in [0, 1); got %g", options.label_smoothing));
  }
  if (options.num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: num_classes must be >= 1; got %d", options.num_classes));
  }
  return absl::OkStatus();
}

CutmixBox RandBbox(int64_t height, int64_t width, double lam, int64_t cy, int64_t cx) {
  TORCH_CHECK(height >= 1 && width >= 1, "RandBbox: bad frame size ", height, "x", width);
  TORCH_CHECK(InUnitInterval(lam), "RandBbox: lam ", lam, " not in [0, 1]");
  TORCH_CHECK(cy >= 0 && cy < height && cx >= 0 && cx < width, "RandBbox: centre (", cy, ", ", cx,
              ") outside ", height, "x", width);
  const double cut_rat = std::sqrt(1.0 - lam);
  // Python's int() truncates toward zero; the products are >= 0.
  const int64_t cut_h = static_cast<int64_t>(static_cast<double>(height) * cut_rat);
  const int64_t cut_w = static_cast<int64_t>(static_cast<double>(width) * cut_rat);
  CutmixBox box;
  box.y1 = std::clamp<int64_t>(cy - cut_h / 2, 0, height);
  box.y2 = std::clamp<int64_t>(cy + cut_h / 2, 0, height);
  box.x1 = std::clamp<int64_t>(cx - cut_w / 2, 0, width);
  box.x2 = std::clamp<int64_t>(cx + cut_w / 2, 0, width);
  return box;
}

double CutmixLam(const CutmixBox& box, int64_t height, int64_t width) {
  return 1.0 - static_cast<double>(box.Area()) / static_cast<double>(height * width);
}

absl::StatusOr<torch::Tensor> MixClips(const torch::Tensor& clips, const MixParams& params) {
  VMAE_RETURN_IF_ERROR(ValidateClips(clips));
  if (!InUnitInterval(params.lam)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: lam must be in [0, 1]; got %g", params.lam));
  }
  // timm's _mix_batch returns before touching x when lam == 1 (the blend
  // below would also turn an inf in the mirror into a NaN).
  if (params.lam == 1.0) {
    return clips.clone();
  }
  if (!params.use_cutmix) {
    // timm: x.mul_(lam).add_(x.flip(0).mul_(1 - lam)), the same operations.
    return clips * params.lam + clips.flip(0) * (1.0 - params.lam);
  }
  const int64_t height = clips.size(3);
  const int64_t width = clips.size(4);
  const CutmixBox& box = params.box;
  if (box.y1 < 0 || box.y1 > box.y2 || box.y2 > height || box.x1 < 0 || box.x1 > box.x2 ||
      box.x2 > width) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: CutMix box rows [%d, %d) cols [%d, %d) outside a %dx%d frame",
                        box.y1, box.y2, box.x1, box.x2, height, width));
  }
  // x[:, :, :, y1:y2, x1:x2] = x.flip(0)[:, :, :, y1:y2, x1:x2]: one box for
  // every channel and frame, so the pasted patch is a tube through time.
  torch::Tensor mixed = clips.clone();
  mixed.slice(3, box.y1, box.y2)
      .slice(4, box.x1, box.x2)
      .copy_(clips.slice(3, box.y1, box.y2).slice(4, box.x1, box.x2).flip(0));
  return mixed;
}

absl::StatusOr<torch::Tensor> MixTargets(const torch::Tensor& labels, int64_t num_classes,
                                         double lam, double smoothing) {
  if (!labels.defined() || labels.dim() != 1 || labels.is_floating_point() || labels.is_complex() ||
      labels.scalar_type() == torch::kBool) {
    return absl::InvalidArgumentError("mixup: labels must be a 1-D integer tensor");
  }
  if (num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: num_classes must be >= 1; got %d", num_classes));
  }
  if (!InUnitInterval(lam)) {
    return absl::InvalidArgumentError(absl::StrFormat("mixup: lam must be in [0, 1]; got %g", lam));
  }
  if (!InUnitInterval(smoothing) || smoothing == 1.0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: label smoothing must be in [0, 1); got %g", smoothing));
  }
  const torch::Tensor index = labels.to(torch::kLong).view({-1, 1});
  if (index.numel() > 0) {
    // scatter_ would throw on the CPU and hit a device assert on a GPU.
    const int64_t lo = index.min().item<int64_t>();
    const int64_t hi = index.max().item<int64_t>();
    if (lo < 0 || hi >= num_classes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "mixup: labels must be in [0, %d); got values in [%d, %d]", num_classes, lo, hi));
    }
  }
  // timm's one_hot / mixup_target, float32 as torch.full makes it.
  const double off_value = smoothing / static_cast<double>(num_classes);
  const double on_value = 1.0 - smoothing + off_value;
  const auto options = torch::TensorOptions().dtype(torch::kFloat).device(labels.device());
  const int64_t batch = index.size(0);
  const torch::Tensor y1 =
      torch::full({batch, num_classes}, off_value, options).scatter_(1, index, on_value);
  const torch::Tensor y2 =
      torch::full({batch, num_classes}, off_value, options).scatter_(1, index.flip(0), on_value);
  return y1 * lam + y2 * (1.0 - lam);
}

absl::StatusOr<Mixup> Mixup::Create(const MixupOptions& options) {
  VMAE_RETURN_IF_ERROR(ValidateMixupOptions(options));
  return Mixup(options);
}

MixParams Mixup::Draw(int64_t height, int64_t width, uint64_t seed, int64_t step) const {
  TORCH_CHECK(height >= 1 && width >= 1, "Mixup::Draw: bad frame size ", height, "x", width);
  MixParams params;
  StepRng rng(seed, step);
  // timm's _params_per_batch, draw for draw.
  if (!(rng.Uniform() < options_.prob)) {
    return params;
  }
  bool use_cutmix = false;
  double alpha = 0.0;
  if (options_.mixup_alpha > 0.0 && options_.cutmix_alpha > 0.0) {
    use_cutmix = rng.Uniform() < options_.switch_prob;
    alpha = use_cutmix ? options_.cutmix_alpha : options_.mixup_alpha;
  } else if (options_.mixup_alpha > 0.0) {
    alpha = options_.mixup_alpha;
  } else {
    use_cutmix = true;
    alpha = options_.cutmix_alpha;
  }
  double lam = rng.Beta(alpha, alpha);
  // timm's _mix_batch: `if lam == 1.: return 1.` before any box is drawn.
  if (lam == 1.0) {
    return params;
  }
  if (use_cutmix) {
    // rand_bbox draws cy (rows) first, then cx.
    const int64_t cy = rng.UniformInt(height);
    const int64_t cx = rng.UniformInt(width);
    params.box = RandBbox(height, width, lam, cy, cx);
    if (options_.correct_lam) {
      lam = CutmixLam(params.box, height, width);
    }
    // An empty box (a lam near 1 cuts 0 pixels) pastes nothing.
    params.use_cutmix = lam != 1.0;
  }
  params.lam = lam;
  return params;
}

absl::StatusOr<MixedBatch> Mixup::Apply(const torch::Tensor& clips, const torch::Tensor& labels,
                                        uint64_t seed, int64_t step) const {
  VMAE_RETURN_IF_ERROR(ValidateClips(clips));
  if (clips.size(3) < 1 || clips.size(4) < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: empty frames of %dx%d pixels", clips.size(3), clips.size(4)));
  }
  if (!labels.defined() || labels.dim() != 1 || labels.size(0) != clips.size(0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("mixup: labels must be [B] with B = %d clips", clips.size(0)));
  }
  MixedBatch batch;
  batch.params = Draw(clips.size(3), clips.size(4), seed, step);
  VMAE_ASSIGN_OR_RETURN(batch.targets, MixTargets(labels, options_.num_classes, batch.params.lam,
                                                  options_.label_smoothing));
  VMAE_ASSIGN_OR_RETURN(batch.clips, MixClips(clips, batch.params));
  return batch;
}

}  // namespace vmae::train
