#include "worker/model/pretrain_model.h"

#include <torch/torch.h>

#include <sstream>
#include <string>

#include "worker/model/block.h"
#include "worker/model/fast_linear.h"
#include "worker/model/init.h"

namespace vmae::model {
namespace {

std::string SizesOf(const at::Tensor& t) {
  if (!t.defined()) {
    return "undefined";
  }
  std::ostringstream out;
  out << t.sizes() << " " << t.scalar_type();
  return out.str();
}

void CheckMask(const at::Tensor& mask, int64_t b, int64_t n, const char* what) {
  TORCH_CHECK(mask.defined() && mask.dim() == 2 && mask.size(0) == b && mask.size(1) == n &&
                  mask.scalar_type() == torch::kBool,
              what, ": expected a bool [", b, ", ", n, "] mask, got ", SizesOf(mask));
}

// The per-row count of true values; every row must agree, or the authors'
// x[sel].reshape(B, -1, C) would silently mix tokens of different clips.
int64_t CommonRowCount(const at::Tensor& sel, const char* what) {
  const at::Tensor counts = sel.sum(1);
  const at::Tensor range = torch::stack({counts.min(), counts.max()}).cpu();
  const int64_t lo = range[0].item<int64_t>();
  const int64_t hi = range[1].item<int64_t>();
  TORCH_CHECK(lo == hi, what, ": every clip in a batch must select the same number of tokens, ",
              "got between ", lo, " and ", hi);
  return lo;
}

}  // namespace

// ---------------------------------------------------------------- encoder

PretrainEncoderImpl::PretrainEncoderImpl(const ModelOptions& options_) : options(options_) {
  reset();
}

void PretrainEncoderImpl::reset() {
  const ModelOptions& o = options;
  patch_embed = register_module("patch_embed", PatchEmbed(PatchEmbedOptionsFrom(o)));
  blocks = register_module("blocks", MakeBlocks(o.depth(), o.embed_dim(), o.num_heads(),
                                                o.mlp_ratio(), o.drop_path(), o.attn_dropout(),
                                                o.proj_dropout()));
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})
                                                          .eps(kLayerNormEps)));
  pos_embed_ = PositionTable(NumPatches(o), o.embed_dim());
  reset_parameters();
}

void PretrainEncoderImpl::reset_parameters() {
  patch_embed->reset_parameters();
  InitXavierLinearsAndNorms(*this);
}

at::Tensor PretrainEncoderImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  TORCH_CHECK(x.dim() == 5, "PretrainEncoder: expected [B, C, T, H, W], got ", x.sizes());
  const int64_t b = x.size(0);
  CheckMask(mask, b, NumPatches(options), "PretrainEncoder");
  const at::Tensor visible = ~mask.to(x.device());
  CommonRowCount(visible, "PretrainEncoder (visible tokens)");
  // The authors embed every token, add the table and keep x[~mask]; the
  // embedding is per token, so embedding only the visible ones (and adding
  // the table at their positions) gives the same tokens for ~10% of the work.
  at::Tensor x_vis = patch_embed->forward_selected(x, visible);  // [B, N_vis, D]
  const int64_t c = x_vis.size(2);
  const at::Tensor pos = pos_embed_.For(x_vis.device(), x_vis.scalar_type())
                             .expand({b, -1, -1})
                             .index({visible})
                             .reshape({b, -1, c});
  x_vis = x_vis + pos;
  x_vis = RunBlocks(blocks, x_vis, options.activation_checkpointing());
  return norm(x_vis);
}

// ---------------------------------------------------------------- decoder

PretrainDecoderImpl::PretrainDecoderImpl(const ModelOptions& options_) : options(options_) {
  reset();
}

void PretrainDecoderImpl::reset() {
  const ModelOptions& o = options;
  blocks = register_module(
      "blocks", MakeBlocks(o.decoder_depth(), o.decoder_embed_dim(), o.decoder_num_heads(),
                           o.mlp_ratio(), o.drop_path(), o.attn_dropout(), o.proj_dropout()));
  norm = register_module(
      "norm",
      torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.decoder_embed_dim()}).eps(kLayerNormEps)));
  head = register_module("head", torch::nn::Linear(o.decoder_embed_dim(), PatchDim(o)));
  reset_parameters();
}

void PretrainDecoderImpl::reset_parameters() { InitXavierLinearsAndNorms(*this); }

at::Tensor PretrainDecoderImpl::forward(const at::Tensor& x, int64_t return_token_num) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.decoder_embed_dim(),
              "PretrainDecoder: expected [B, M, ", options.decoder_embed_dim(), "], got ",
              x.sizes());
  TORCH_CHECK(return_token_num >= 0 && return_token_num <= x.size(1),
              "PretrainDecoder: return_token_num ", return_token_num, " out of [0, ", x.size(1),
              "]");
  at::Tensor h = RunBlocks(blocks, x, options.activation_checkpointing());
  if (return_token_num > 0) {
    h = h.slice(/*dim=*/1, h.size(1) - return_token_num);
  }
  return FastLinear(head, norm(h));
}

// ---------------------------------------------------------------- whole model

PretrainVisionTransformerImpl::PretrainVisionTransformerImpl(const ModelOptions& options_)
    : options(options_) {
  reset();
}

void PretrainVisionTransformerImpl::reset() {
  const ModelOptions& o = options;
  encoder = register_module("encoder", PretrainEncoder(o));
  decoder = register_module("decoder", PretrainDecoder(o));
  encoder_to_decoder = register_module(
      "encoder_to_decoder",
      torch::nn::Linear(torch::nn::LinearOptions(o.embed_dim(), o.decoder_embed_dim()).bias(false)));
  mask_token = register_parameter("mask_token", torch::zeros({1, 1, o.decoder_embed_dim()}));
  decoder_pos_embed_ = PositionTable(NumPatches(o), o.decoder_embed_dim());
  reset_parameters();
}

void PretrainVisionTransformerImpl::reset_parameters() {
  encoder->reset_parameters();
  decoder->reset_parameters();
  encoder_to_decoder->reset_parameters();
  TruncNormal_(mask_token, 0.0, 0.02, -0.02, 0.02);
}

at::Tensor PretrainVisionTransformerImpl::forward(const at::Tensor& x, const at::Tensor& mask,
                                                  const at::Tensor& decoder_mask) {
  const at::Tensor enc_mask = mask.defined() ? mask.to(x.device()) : mask;
  at::Tensor x_vis = encoder(x, enc_mask);  // [B, N_vis, D_enc]
  x_vis = FastLinear(encoder_to_decoder, x_vis);  // [B, N_vis, D_dec]
  const int64_t b = x_vis.size(0);
  const int64_t c = x_vis.size(2);
  if (decoder_mask.defined()) {
    CheckMask(decoder_mask, b, enc_mask.size(1), "PretrainVisionTransformer decoder_mask");
  }
  const at::Tensor decoded = DecodedPositions(enc_mask, decoder_mask).to(x.device());
  CommonRowCount(decoded, "PretrainVisionTransformer (decoded tokens)");
  // The visible tokens stay in their order; the position table is gathered
  // at their true positions instead (authors' expand + boolean index).
  const at::Tensor pos = decoder_pos_embed_.For(x.device(), x.scalar_type()).expand({b, -1, -1});
  const at::Tensor pos_vis = pos.index({~enc_mask}).reshape({b, -1, c});
  const at::Tensor pos_dec = pos.index({decoded}).reshape({b, -1, c});
  const at::Tensor full = torch::cat({x_vis + pos_vis, mask_token + pos_dec}, 1);
  return decoder(full, pos_dec.size(1));
}

void PretrainVisionTransformerImpl::SetActivationCheckpointing(bool enabled) {
  options.activation_checkpointing(enabled);
  encoder->options.activation_checkpointing(enabled);
  decoder->options.activation_checkpointing(enabled);
}

at::Tensor DecodedPositions(const at::Tensor& mask, const at::Tensor& decoder_mask) {
  if (!decoder_mask.defined()) {
    return mask;
  }
  TORCH_CHECK(decoder_mask.scalar_type() == torch::kBool,
              "DecodedPositions: decoder_mask must be bool, got ", decoder_mask.scalar_type());
  return ~decoder_mask;
}

}  // namespace vmae::model
