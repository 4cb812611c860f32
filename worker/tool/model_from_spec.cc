#include "worker/tool/model_from_spec.h"

#include "common/jobspec/jobspec.h"
#include "common/status_macros.h"

namespace vmae::tool {

model::ModelOptions ModelOptionsFromSpec(const v1::ModelSpec& spec) {
  return model::ModelOptions()
      .embed_dim(spec.embed_dim())
      .depth(spec.depth())
      .num_heads(spec.num_heads())
      .mlp_ratio(spec.mlp_ratio())
      .patch_size(spec.patch_size())
      .tubelet_size(spec.tubelet_size())
      .num_frames(spec.num_frames())
      .image_size(spec.image_size())
      .decoder_embed_dim(spec.decoder_embed_dim())
      .decoder_depth(spec.decoder_depth())
      .decoder_num_heads(spec.decoder_num_heads())
      .drop_path(spec.drop_path())
      .num_classes(spec.num_classes())
      .use_mean_pooling(spec.use_mean_pooling())
      .init_scale(spec.init_scale())
      .head_dropout(spec.head_dropout())
      .activation_checkpointing(spec.activation_checkpointing());
}

absl::StatusOr<model::ModelOptions> LoadModelOptions(const std::string& path, v1::JobKind kind) {
  v1::ModelSpec spec;
  VMAE_ASSIGN_OR_RETURN(spec, jobspec::LoadModelConfigFile(path, kind));
  return ModelOptionsFromSpec(spec);
}

}  // namespace vmae::tool
