// The tiny VideoMAE the checkpoint I/O tests save, load and convert.
#ifndef VMAE_TESTS_WORKER_CHECKPOINT_TINY_MODEL_H_
#define VMAE_TESTS_WORKER_CHECKPOINT_TINY_MODEL_H_

#include <torch/torch.h>

#include <cstdint>

#include "worker/model/options.h"

namespace vmae::checkpoint::pth_testing {

// Encoder 32 wide, 2 blocks, 4 heads, MLP 128; decoder 32 wide, 1 block,
// 4 heads; patch 16, tubelet 2; 4 frames of 32x32; 5 classes.
inline model::ModelOptions TinyOptions() {
  return model::ModelOptions()
      .embed_dim(32)
      .depth(2)
      .num_heads(4)
      .decoder_embed_dim(32)
      .decoder_depth(1)
      .decoder_num_heads(4)
      .patch_size(16)
      .tubelet_size(2)
      .num_frames(4)
      .image_size(32)
      .num_classes(5);
}

// Every parameter random (the authors' init leaves many biases equal, which
// would hide a swapped tensor).
inline void Randomize(torch::nn::Module& m, uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_();
}

}  // namespace vmae::checkpoint::pth_testing

#endif  // VMAE_TESTS_WORKER_CHECKPOINT_TINY_MODEL_H_
