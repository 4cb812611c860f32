// Mixup / CutMix of a fine-tuning batch, as the authors use timm's
// timm.data.mixup.Mixup (mode 'batch': one lam and one box for the whole
// batch, each clip mixed with its mirror x.flip(0)), extended to clips: the
// CutMix box is the same on every frame.
//
// The random draw is a pure function of (seed, step), not of a global RNG,
// so a restarted or re-sharded job draws the same mix for the same step.
#ifndef VMAE_WORKER_TRAIN_MIXUP_H_
#define VMAE_WORKER_TRAIN_MIXUP_H_

#include <torch/types.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace vmae::train {

// The authors' fine-tuning arguments for timm's Mixup.
struct MixupOptions {
  /// Beta(alpha, alpha) parameter of mixup; 0 disables it. Default: 0.8.
  double mixup_alpha = 0.8;
  /// Beta(alpha, alpha) parameter of CutMix; 0 disables it. Default: 1.0.
  double cutmix_alpha = 1.0;
  /// Probability that a batch is mixed at all (timm's `prob`). Default: 1.0.
  double prob = 1.0;
  /// With both enabled, the probability of CutMix rather than mixup.
  /// Default: 0.5.
  double switch_prob = 0.5;
  /// Label smoothing folded into the mixed targets. Default: 0.1.
  double label_smoothing = 0.1;
  /// Replace the drawn lam by the share of each frame outside the clipped
  /// CutMix box (timm's correct_lam). Default: true.
  bool correct_lam = true;
  /// Number of classes of the targets. Must be set (>= 1).
  int64_t num_classes = 0;
};

// timm's cutmix_minmax is not supported (the authors leave it None).
absl::Status ValidateMixupOptions(const MixupOptions& options);

// A CutMix box in pixels: rows [y1, y2) and columns [x1, x2) of every frame.
struct CutmixBox {
  int64_t y1 = 0;
  int64_t y2 = 0;
  int64_t x1 = 0;
  int64_t x2 = 0;

  int64_t Area() const { return (y2 - y1) * (x2 - x1); }
};

// What one batch gets.
struct MixParams {
  // Weight of each clip itself; its mirror x.flip(0) gets 1 - lam. 1 means
  // the clips are left as they are (the batch was not mixed).
  double lam = 1.0;
  // CutMix (paste `box` from the mirror) rather than mixup (blend).
  // false whenever lam == 1.
  bool use_cutmix = false;
  // Only meaningful with use_cutmix.
  CutmixBox box;
};

// timm's rand_bbox for a given centre (cy, cx):
//   cut_rat = sqrt(1 - lam); cut_h = int(H * cut_rat); cut_w = int(W * cut_rat)
//   y1 = clip(cy - cut_h // 2, 0, H); y2 = clip(cy + cut_h // 2, 0, H)
//   x1 = clip(cx - cut_w // 2, 0, W); x2 = clip(cx + cut_w // 2, 0, W)
// (an odd cut loses a pixel: its box is 2 * (cut // 2) wide before clipping).
// Needs H, W >= 1, lam in [0, 1], 0 <= cy < H, 0 <= cx < W.
CutmixBox RandBbox(int64_t height, int64_t width, double lam, int64_t cy, int64_t cx);

// timm's corrected lam: 1 - box area / (H * W).
double CutmixLam(const CutmixBox& box, int64_t height, int64_t width);

// The mixed clips for given parameters, a new tensor (`clips` is not
// modified):
//   mixup:  clips * lam + clips.flip(0) * (1 - lam)
//   cutmix: clips with clips.flip(0)[:, :, :, y1:y2, x1:x2] pasted into
//           [:, :, :, y1:y2, x1:x2] (every channel and frame)
//   lam == 1: a copy of clips.
// `clips` is [B, C, T, H, W], floating point. InvalidArgument for another
// shape, an odd B (timm asserts "Batch size should be even"), or a box
// outside the frame.
absl::StatusOr<torch::Tensor> MixClips(const torch::Tensor& clips, const MixParams& params);

// timm's mixup_target: with off = smoothing / K and on = 1 - smoothing + off,
// onehot(labels) * lam + onehot(labels.flip(0)) * (1 - lam), float32 [B, K]
// on the labels' device. `labels` is [B], integral, each in [0, K).
// InvalidArgument otherwise, or for lam outside [0, 1] or smoothing outside
// [0, 1).
absl::StatusOr<torch::Tensor> MixTargets(const torch::Tensor& labels, int64_t num_classes,
                                         double lam, double smoothing);

// A mixed batch: the model's input and the soft targets of
// SoftTargetCrossEntropy.
struct MixedBatch {
  torch::Tensor clips;    // [B, C, T, H, W], the input's dtype and device
  torch::Tensor targets;  // [B, K] float32
  MixParams params;
};

// timm's Mixup in mode 'batch'. Immutable; thread-safe.
class Mixup {
 public:
  // InvalidArgument when ValidateMixupOptions fails.
  static absl::StatusOr<Mixup> Create(const MixupOptions& options);

  // The parameters of the batch of optimizer step `step` for frames of
  // height x width, drawn as timm's _params_per_batch and _mix_batch do:
  //   mixed with probability prob; if so, CutMix with probability
  //   switch_prob (when both alphas are > 0), lam ~ Beta(alpha, alpha) of the
  //   chosen one; for CutMix (unless lam == 1) a centre uniform over the
  //   pixels, RandBbox, and with correct_lam lam = CutmixLam(box).
  // The draws come from a std::mt19937_64 seeded from (seed, step) alone, and
  // every distribution on top of it is written out here (the standard
  // library's distributions differ between implementations), so the result
  // is the same on every platform. Give each data-parallel rank its own
  // seed (e.g. seed + rank) to draw independently per rank as the authors'
  // per-rank numpy seeds do. height and width must be >= 1.
  MixParams Draw(int64_t height, int64_t width, uint64_t seed, int64_t step) const;

  // Draw() for the clips' frame size, then MixClips() and MixTargets() with
  // the drawn lam (the corrected one for CutMix). InvalidArgument for a bad
  // shape, an odd batch, or labels out of range.
  absl::StatusOr<MixedBatch> Apply(const torch::Tensor& clips, const torch::Tensor& labels,
                                   uint64_t seed, int64_t step) const;

  const MixupOptions& options() const { return options_; }

 private:
  explicit Mixup(const MixupOptions& options) : options_(options) {}

  MixupOptions options_;
};

}  // namespace vmae::train

#endif  // VMAE_WORKER_TRAIN_MIXUP_H_
