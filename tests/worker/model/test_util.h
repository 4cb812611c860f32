// Shared helpers for the model tests.
#ifndef VMAE_TESTS_WORKER_MODEL_TEST_UTIL_H_
#define VMAE_TESTS_WORKER_MODEL_TEST_UTIL_H_

#include <torch/torch.h>

#include "worker/model/options.h"

namespace vmae::model::testing {

// depth 2 / dim 32 encoder, depth 1 / dim 16 decoder, 4 frames of 32x32 with
// 8x8 patches: a 2 x 4 x 4 grid of 32 tokens of 3 * 2 * 8 * 8 = 384 values.
inline ModelOptions TinyOptions() {
  return ModelOptions()
      .embed_dim(32)
      .depth(2)
      .num_heads(2)
      .patch_size(8)
      .tubelet_size(2)
      .num_frames(4)
      .image_size(32)
      .decoder_embed_dim(16)
      .decoder_depth(1)
      .decoder_num_heads(2)
      .num_classes(5);
}

inline double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace vmae::model::testing

#endif  // VMAE_TESTS_WORKER_MODEL_TEST_UTIL_H_
