// Encoder and decoder masks of VideoMAE (V1 tube / random, V2 running cell).
//
// Every mask is a bool tensor on the CPU with value true = masked (hidden),
// flattened in the model's (t, h, w) token order. Draws are deterministic
// given the generator (or the 64-bit seed, which seeds a fresh CPU
// generator), and use a fixed-count shuffle, never a per-token Bernoulli.
#ifndef VMAE_WORKER_MODEL_MASKING_H_
#define VMAE_WORKER_MODEL_MASKING_H_

#include <ATen/Tensor.h>
#include <ATen/core/Generator.h>

#include <cstdint>

#include "worker/model/options.h"

namespace vmae::model {

// int(ratio * count) as Python computes it (truncation of the double product).
int64_t NumMasked(int64_t count, double ratio);

// A CPU generator seeded with `seed`.
at::Generator MakeGenerator(uint64_t seed);

// Tube masking: one spatial mask with exactly int(ratio * h * w) masked
// positions, shuffled, repeated over all t temporal slices. [t * h * w].
at::Tensor TubeMask(int64_t t, int64_t h, int64_t w, double ratio, at::Generator gen);
at::Tensor TubeMask(int64_t t, int64_t h, int64_t w, double ratio, uint64_t seed);

// Random masking: exactly int(ratio * n) of n tokens, shuffled. [n].
at::Tensor RandomMask(int64_t n, double ratio, at::Generator gen);
at::Tensor RandomMask(int64_t n, double ratio, uint64_t seed);

// VideoMAE V2's RunningCellMaskingGenerator (decoder masking). A 2x2 cell
// holds a queue of int(4 * ratio) ones (masked: not decoded) then zeros; the
// start pointer is drawn uniformly from 0..3, and slice i reads the queue
// rotated by start + i + 1, so the pattern shifts one position per temporal
// slice; the cell is tiled over the (h, w) grid (both must be even).
// Requires 0 < int(4 * ratio) < 4. Value true = dropped by the decoder.
// [t * h * w].
at::Tensor RunningCellDecoderMask(int64_t t, int64_t h, int64_t w, double ratio,
                                  at::Generator gen);
at::Tensor RunningCellDecoderMask(int64_t t, int64_t h, int64_t w, double ratio, uint64_t seed);

enum class MaskType { kTube, kRandom };

// One independent mask per clip, stacked: [batch, t * h * w]. Every row
// hides the same number of tokens.
at::Tensor MaskBatch(MaskType type, int64_t batch, const TokenGrid& grid, double ratio,
                     at::Generator gen);
at::Tensor RunningCellDecoderMaskBatch(int64_t batch, const TokenGrid& grid, double ratio,
                                       at::Generator gen);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_MASKING_H_
