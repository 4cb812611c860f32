// The VideoMAE pre-training model: masked encoder, light decoder.
#ifndef VMAE_WORKER_MODEL_PRETRAIN_MODEL_H_
#define VMAE_WORKER_MODEL_PRETRAIN_MODEL_H_

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

#include "worker/model/options.h"
#include "worker/model/patch_embed.h"
#include "worker/model/sinusoid.h"

namespace vmae::model {

// patch_embed -> + sinusoid table -> keep visible tokens -> blocks -> norm.
// Keys: patch_embed.proj.*, blocks.{i}.*, norm.* (no head: the authors'
// encoder head is an Identity). Init: xavier Linears, LayerNorm 1/0.
class PretrainEncoderImpl : public torch::nn::Cloneable<PretrainEncoderImpl> {
 public:
  explicit PretrainEncoderImpl(const ModelOptions& options);
  void reset() override;
  void reset_parameters();
  // x: [B, C, T, H, W]; mask: [B, N] bool, true = masked (hidden from the
  // encoder). Every row must hide the same number of tokens. Returns the
  // visible tokens [B, N_vis, D] in increasing token order, after `norm`.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask);

  ModelOptions options;
  PatchEmbed patch_embed = nullptr;
  torch::nn::ModuleList blocks = nullptr;
  torch::nn::LayerNorm norm = nullptr;

 private:
  PositionTable pos_embed_;
};
TORCH_MODULE(PretrainEncoder);

// blocks -> norm -> head on the last `return_token_num` tokens.
// Keys: blocks.{i}.*, norm.*, head.*. Init: xavier Linears, LayerNorm 1/0.
class PretrainDecoderImpl : public torch::nn::Cloneable<PretrainDecoderImpl> {
 public:
  explicit PretrainDecoderImpl(const ModelOptions& options);
  void reset() override;
  void reset_parameters();
  // x: [B, M, D_dec] -> [B, return_token_num, PatchDim]. As in the authors'
  // code, return_token_num == 0 applies norm and head to all M tokens.
  at::Tensor forward(const at::Tensor& x, int64_t return_token_num);

  ModelOptions options;
  torch::nn::ModuleList blocks = nullptr;
  torch::nn::LayerNorm norm = nullptr;
  torch::nn::Linear head = nullptr;
};
TORCH_MODULE(PretrainDecoder);

// The whole pre-training model. State-dict keys are the authors':
// encoder.patch_embed.proj.*, encoder.blocks.{i}.*, encoder.norm.*,
// decoder.blocks.{i}.*, decoder.norm.*, decoder.head.*,
// encoder_to_decoder.weight, mask_token. The two sinusoid tables are not
// parameters or buffers. Not thread-safe.
class PretrainVisionTransformerImpl
    : public torch::nn::Cloneable<PretrainVisionTransformerImpl> {
 public:
  explicit PretrainVisionTransformerImpl(const ModelOptions& options);
  void reset() override;
  // The authors' init: encoder and decoder as above (xavier_uniform on every
  // Linear, fused qkv as one matrix, zero biases, LayerNorm 1/0),
  // mask_token trunc-normal std 0.02 cut at +-0.02, encoder_to_decoder and
  // the Conv3d PyTorch defaults.
  void reset_parameters();

  // x [B, C, T, H, W] normalised clip; mask [B, N] bool (true = masked,
  // hidden from the encoder); every clip must hide the same count.
  //
  // VideoMAE (V1), decoder_mask undefined: returns the reconstruction of the
  // masked tokens, [B, N_masked, PatchDim], in increasing token order.
  //
  // VideoMAE V2 dual masking, exactly as OpenGVLab/VideoMAEv2's
  // `forward(x, mask, decode_mask)`: `decoder_mask` [B, N] bool is true for
  // tokens the decoder drops (the running-cell generator's 1s). The decoder
  // sees the N_vis encoder outputs plus one mask token at every position
  // where decoder_mask is false, and returns predictions for those
  // positions only, [B, N_decoded, PatchDim], in increasing token order.
  // The matching target is SelectTokens(target, DecodedPositions(mask,
  // decoder_mask)). Note: as in the authors' code the decoded set is
  // ~decoder_mask, which may include encoder-visible tokens; to decode only
  // tokens that are both encoder-masked and kept by the decoder mask, pass
  // `decoder_mask | ~mask` (every row must then keep the same count).
  // (One forward with a defaulted argument: ModuleHolder::operator() cannot
  // dispatch to overloads.)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask,
                     const at::Tensor& decoder_mask = at::Tensor());

  // Turns activation checkpointing of every encoder and decoder block on or
  // off (here and in the children's copies of the options).
  void SetActivationCheckpointing(bool enabled);

  ModelOptions options;
  PretrainEncoder encoder = nullptr;
  PretrainDecoder decoder = nullptr;
  torch::nn::Linear encoder_to_decoder = nullptr;
  at::Tensor mask_token;

 private:
  PositionTable decoder_pos_embed_;
};
TORCH_MODULE(PretrainVisionTransformer);

// The tokens the pre-training model reconstructs, [B, N] bool: `mask` when
// decoder_mask is undefined (V1), else ~decoder_mask (V2).
at::Tensor DecodedPositions(const at::Tensor& mask, const at::Tensor& decoder_mask);

}  // namespace vmae::model

#endif  // VMAE_WORKER_MODEL_PRETRAIN_MODEL_H_
