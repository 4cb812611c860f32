// Hyperparameters of the VideoMAE models and the authors' size presets.
//
// One options struct serves the pre-training model (encoder + decoder) and
// the fine-tuning classifier; each reads the fields it needs. Defaults are
// ViT-B/16 on 16x224x224 clips with tubelet 2 (the paper's main setting).
#ifndef VMAE_WORKER_MODEL_OPTIONS_H_
#define VMAE_WORKER_MODEL_OPTIONS_H_

#include <torch/arg.h>

#include <cstdint>

namespace vmae::model {

struct ModelOptions {
  /// Encoder token width D. Default: 768 (ViT-B).
  TORCH_ARG(int64_t, embed_dim) = 768;
  /// Number of encoder blocks. Default: 12.
  TORCH_ARG(int64_t, depth) = 12;
  /// Encoder attention heads; head_dim = embed_dim / num_heads. Default: 12.
  TORCH_ARG(int64_t, num_heads) = 12;
  /// MLP hidden width = int(dim * mlp_ratio), encoder and decoder. Default: 4.
  TORCH_ARG(double, mlp_ratio) = 4.0;
  /// Spatial patch side in pixels. Default: 16.
  TORCH_ARG(int64_t, patch_size) = 16;
  /// Frames per token (temporal patch size). Default: 2.
  TORCH_ARG(int64_t, tubelet_size) = 2;
  /// Frames per clip T. Default: 16.
  TORCH_ARG(int64_t, num_frames) = 16;
  /// Square input side H = W in pixels. Default: 224.
  TORCH_ARG(int64_t, image_size) = 224;
  /// Input channels. Default: 3 (RGB).
  TORCH_ARG(int64_t, in_chans) = 3;
  /// Decoder token width (pre-training only). Default: 384 (ViT-B).
  TORCH_ARG(int64_t, decoder_embed_dim) = 384;
  /// Number of decoder blocks (pre-training only). Default: 4.
  TORCH_ARG(int64_t, decoder_depth) = 4;
  /// Decoder attention heads (pre-training only). Default: 6 (ViT-B).
  TORCH_ARG(int64_t, decoder_num_heads) = 6;
  /// Largest stochastic-depth rate; block i of n gets linspace(0, drop_path, n)[i].
  /// The pre-training decoder uses the same rate over its own depth. Default: 0.
  TORCH_ARG(double, drop_path) = 0.0;
  /// Classifier outputs (fine-tuning only). Default: 400 (Kinetics-400).
  TORCH_ARG(int64_t, num_classes) = 400;
  /// Classifier: mean over all tokens then `fc_norm` (true), or `norm` then
  /// the first token (false). Default: true.
  TORCH_ARG(bool, use_mean_pooling) = true;
  /// Classifier head weight and bias are multiplied by this after init. Default: 0.001.
  TORCH_ARG(double, init_scale) = 0.001;
  /// Dropout before the classifier head (authors' fc_drop_rate). Default: 0.
  TORCH_ARG(double, head_dropout) = 0.0;
  /// Dropout on the attention probabilities (attn_drop_rate). Default: 0.
  TORCH_ARG(double, attn_dropout) = 0.0;
  /// Dropout after the attention projection, after fc2 and (classifier) after
  /// adding the position table (authors' drop_rate). Default: 0.
  TORCH_ARG(double, proj_dropout) = 0.0;
  /// Recompute each block in the backward pass instead of keeping its
  /// activations (torch.utils.checkpoint equivalent). Default: false.
  TORCH_ARG(bool, activation_checkpointing) = false;
};

/// Token grid (T', h, w) = (num_frames / tubelet, image / patch, image / patch).
struct TokenGrid {
  int64_t t = 0;
  int64_t h = 0;
  int64_t w = 0;
  int64_t Size() const { return t * h * w; }
  int64_t PerSlice() const { return h * w; }
};

inline TokenGrid GridOf(const ModelOptions& o) {
  return TokenGrid{o.num_frames() / o.tubelet_size(), o.image_size() / o.patch_size(),
                   o.image_size() / o.patch_size()};
}

/// Tokens per clip: 1568 for 16x224x224 with tubelet 2 and patch 16.
inline int64_t NumPatches(const ModelOptions& o) { return GridOf(o).Size(); }

/// Tokens per temporal slice: 196 for 224 / 16.
inline int64_t NumPatchesPerFrame(const ModelOptions& o) { return GridOf(o).PerSlice(); }

/// Values reconstructed per token: in_chans * tubelet * patch^2 = 1536 by default.
inline int64_t PatchDim(const ModelOptions& o) {
  return o.in_chans() * o.tubelet_size() * o.patch_size() * o.patch_size();
}

/// ViT-S/16: 384 wide, 12 deep, 6 heads; decoder 192 wide, 3 heads, 4 deep.
inline ModelOptions VitSmall() {
  return ModelOptions().embed_dim(384).depth(12).num_heads(6).decoder_embed_dim(192)
      .decoder_num_heads(3).decoder_depth(4);
}

/// ViT-B/16: 768 wide, 12 deep, 12 heads; decoder 384 wide, 6 heads, 4 deep.
inline ModelOptions VitBase() {
  return ModelOptions().embed_dim(768).depth(12).num_heads(12).decoder_embed_dim(384)
      .decoder_num_heads(6).decoder_depth(4);
}

/// ViT-L/16: 1024 wide, 24 deep, 16 heads; decoder 512 wide, 8 heads, 4 deep
/// (the V1 authors used decoder depth 12 for L; V2 uses 4).
inline ModelOptions VitLarge() {
  return ModelOptions().embed_dim(1024).depth(24).num_heads(16).decoder_embed_dim(512)
      .decoder_num_heads(8).decoder_depth(4);
}

/// ViT-H/16: 1280 wide, 32 deep, 16 heads (head_dim 80); decoder 640 wide,
/// 8 heads, 4 deep (V1 used decoder depth 12; V2 uses width 512).
inline ModelOptions VitHuge() {
  return ModelOptions().embed_dim(1280).depth(32).num_heads(16).decoder_embed_dim(640)
      .decoder_num_heads(8).decoder_depth(4);
}

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_OPTIONS_H_
