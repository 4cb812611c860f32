// The engine benchmark: the speed of one full training step (forward,
// backward, AdamW) of the pre-training or fine-tuning model on synthetic
// input, with an analytic FLOP count of the step. Behind `vmae bench`.
#ifndef VMAE_WORKER_BENCH_ENGINE_BENCH_H_
#define VMAE_WORKER_BENCH_ENGINE_BENCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/options.h"
#include "worker/train/train_step.h"

namespace vmae::bench {

enum class BenchMode { kPretrain, kFinetune };

struct EngineBenchOptions {
  /// Default: pre-training.
  BenchMode mode = BenchMode::kPretrain;
  /// "vit_small", "vit_base", "vit_large", "vit_huge", or "custom" (sizes
  /// from `custom`). Default: vit_small.
  std::string arch = "vit_small";
  /// The model for arch "custom" (its frames, image size and decoder depth
  /// are overridden by the fields below). Default: ViT-B.
  model::ModelOptions custom;
  /// Default: 16.
  int64_t frames = 16;
  /// Square side in pixels. Default: 224.
  int64_t image_size = 224;
  /// Clips per step. Default: 2.
  int64_t batch = 2;
  /// Intra-op threads (at::set_num_threads); 0 leaves LibTorch's setting.
  /// Default: 2.
  int64_t threads = 2;
  /// "cpu" or "cuda" / "cuda:N". Default: cpu.
  std::string device = "cpu";
  /// Untimed steps first. Default: 2.
  int64_t warmup_steps = 2;
  /// Timed steps. Default: 5.
  int64_t steps = 5;
  /// Pre-training: tube mask ratio. Default: 0.9.
  double mask_ratio = 0.9;
  /// Pre-training: decoder blocks. Default: 4 (the authors').
  int64_t decoder_depth = 4;
  /// Fine-tuning: classes. Default: 400.
  int64_t num_classes = 400;
  /// Precision on CUDA (the CPU runs fp32). Default: bf16.
  train::Precision precision = train::Precision::kBFloat16;
  /// Seed of the synthetic input, mask and weights. Default: 0.
  uint64_t seed = 0;
};

struct EngineBenchResult {
  EngineBenchOptions options;
  /// The model that ran (arch preset with the frame / size overrides).
  model::ModelOptions model;
  std::string device_name;
  std::string precision;  // "fp32" on the CPU
  std::string torch_version;
  int64_t threads = 0;
  int64_t parameters = 0;
  /// Pre-training: tokens per clip seen by the encoder and reconstructed.
  int64_t visible_tokens = 0;
  int64_t decoded_tokens = 0;
  /// Per timed step, in seconds.
  std::vector<double> step_seconds;
  double median_step_s = 0.0;
  double min_step_s = 0.0;
  double max_step_s = 0.0;
  /// (max - min) / median of the timed steps.
  double spread = 0.0;
  double clips_per_s = 0.0;  // batch / median step time
  /// Analytic FLOPs of one step (StepFlops) and FLOPs / median step time.
  double step_flops = 0.0;
  double tflops = 0.0;
  double last_loss = 0.0;
};

// The architecture preset by name (vit_small, vit_base, vit_large, vit_huge);
// InvalidArgument otherwise.
absl::StatusOr<model::ModelOptions> ArchPreset(const std::string& arch);

// "pretrain" / "finetune".
absl::StatusOr<BenchMode> ParseBenchMode(const std::string& name);
const char* BenchModeName(BenchMode mode);

// Multiply-accumulates of one forward pass of `blocks` transformer blocks of
// width d on n tokens per clip (per clip), with MLP hidden h = int(d *
// mlp_ratio):
//   linear layers: n * (3d*d [qkv] + d*d [proj] + 2*d*h [fc1, fc2])
//   attention:     2 * n^2 * d   [q k^T and attn v, all heads together]
// LayerNorm, softmax, GELU and residual adds are not counted.
double BlockMacs(int64_t n, int64_t d, double mlp_ratio, int64_t blocks);

// Analytic FLOPs of one training step on `batch` clips:
//   step = 3 x forward (the backward pass costs two forwards: the gradients
//   with respect to the inputs and to the weights), FLOPs = 2 x MACs.
// Forward MACs per clip, with N tokens, P = in_chans * tubelet * patch^2
// values per token, D / Dd the encoder / decoder widths:
//   pre-training: patch embedding N*P*D (all tokens, as in the authors'
//     model; counting the model's math, not our visible-only shortcut)
//     + encoder BlockMacs(N_vis, D) + encoder_to_decoder N_vis*D*Dd
//     + decoder BlockMacs(N_vis + N_dec, Dd) + head N_dec*Dd*P
//   fine-tuning: N*P*D + BlockMacs(N, D) + head D*classes.
// N_vis: visible tokens, N_dec: decoded (= masked, V1) tokens.
// Check (videomae-reference.md): ViT-B pre-training at 16x224, 160 visible:
// encoder 15.9 GMACs, decoder (4 blocks) + head 19.5 GMACs.
double StepFlops(const model::ModelOptions& model, BenchMode mode, int64_t batch,
                 int64_t visible_tokens, int64_t decoded_tokens);

// Builds the model on the device, runs warmup + timed steps of
// train::PretrainStep / FinetuneStep (AdamW with the authors' groups, fixed
// lr) on synthetic normalised clips, and reports the timings. The step time
// includes the optimizer step and, on CUDA, a device synchronisation.
// InvalidArgument for bad options, FailedPrecondition when CUDA is asked
// for but absent, Internal when LibTorch throws.
absl::StatusOr<EngineBenchResult> RunEngineBench(const EngineBenchOptions& options);

}  // namespace vmae::bench

#endif  // VMAE_WORKER_BENCH_ENGINE_BENCH_H_
