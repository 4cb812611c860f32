// Exact softmax attention computed a block of query rows at a time, for the
// CPU. The explicit formula materialises the [B*heads, N, N] probabilities
// (59 MB per decoder block of a ViT-S pre-training step at 16x224) and makes
// four passes over them in memory (product, softmax, its backward, two
// products); here each block of scores is built, normalised and consumed
// while it sits in the L2 cache, and backward recomputes it instead of
// reading a saved copy (FlashAttention's trade, without its online softmax:
// a whole row of scores fits in cache on a CPU).
#ifndef VMAE_WORKER_MODEL_CHUNKED_ATTENTION_H_
#define VMAE_WORKER_MODEL_CHUNKED_ATTENTION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace vmae::model {

/// softmax((q * scale) @ k^T) @ v over [batch, N, head_dim] tensors, with
/// autograd, in blocks of `rows_per_block` query rows. Same operations in
/// the same order per row as the explicit formula, so results agree with it
/// to float rounding. No dropout.
at::Tensor ChunkedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            double scale, int64_t rows_per_block);

/// Query rows per block for sequences of `n` keys: a block of scores
/// (rows x n floats) takes about 1 MiB, so it and its gradient stay in a
/// core's L2 cache.
int64_t AttentionRowsPerBlock(int64_t n);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_CHUNKED_ATTENTION_H_
