#include "common/jobspec/defaults.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jobspec/jobspec.h"
#include "common/logging.h"
#include "yaml-cpp/yaml.h"

namespace vmae::jobspec::internal {
namespace {

// The authors' recipes (docs "VideoMAE reference", Recipes), one row per
// field: path, value for pretrain, value for finetune (nullptr: the field
// belongs to the other kind and stays unset). Values are YAML literals and
// go through the same reader as the user's file, so a typo here fails the
// defaults test instead of silently setting a wrong type.
struct RecipeDefault {
  const char* path;
  const char* pretrain;
  const char* finetune;
};

constexpr RecipeDefault kRecipe[] = {
    {"seed", "0", "0"},
    {"model.drop_path", "0.0", "0.1"},
    {"model.use_mean_pooling", nullptr, "true"},
    {"model.init_scale", nullptr, "0.001"},
    {"model.head_dropout", nullptr, "0.0"},
    {"pretrain.mask_type", "tube", nullptr},
    {"pretrain.mask_ratio", "0.9", nullptr},
    {"pretrain.decoder_mask_type", "none", nullptr},
    {"pretrain.decoder_mask_ratio", "0.5", nullptr},
    {"pretrain.normalize_target", "true", nullptr},
    {"pretrain.loss", "mse", nullptr},
    {"finetune.layer_decay", nullptr, "0.75"},
    {"finetune.mixup", nullptr, "0.8"},
    {"finetune.cutmix", nullptr, "1.0"},
    {"finetune.mixup_prob", nullptr, "1.0"},
    {"finetune.mixup_switch_prob", nullptr, "0.5"},
    {"finetune.label_smoothing", nullptr, "0.1"},
    {"finetune.randaug_magnitude", nullptr, "7"},
    {"finetune.randaug_num_ops", nullptr, "4"},
    {"finetune.random_erase_prob", nullptr, "0.25"},
    {"finetune.flip", nullptr, "true"},
    {"finetune.test_clips", nullptr, "5"},
    {"finetune.test_crops", nullptr, "3"},
    {"data.sampling", "stride", "dense"},
    {"data.sampling_rate", "4", "4"},
    {"data.repeated_aug", "1", "2"},
    {"data.decode_threads", "4", "4"},
    {"data.max_bad_fraction", "0.01", "0.01"},
    {"data.clip_timeout_seconds", "60", "60"},
    {"optimizer.base_lr", "1.5e-4", "1e-3"},
    {"optimizer.min_lr", "1e-5", "1e-6"},
    {"optimizer.betas", "[0.9, 0.95]", "[0.9, 0.999]"},
    {"optimizer.eps", "1e-8", "1e-8"},
    {"optimizer.weight_decay", "0.05", "0.05"},
    {"optimizer.warmup_epochs", "40", "5"},
    {"optimizer.epochs", "800", "100"},
    {"optimizer.clip_grad", "0", "0"},
    // The authors' per-GPU batches: 32 for pre-training; 8 for ViT-B
    // fine-tuning on Kinetics-400 (global 8 x 64 = 512).
    {"optimizer.batch_size", "32", "8"},
    {"checkpoint.every_steps", "500", "500"},
    {"checkpoint.keep_last", "3", "3"},
    {"eval.every_epochs", "5", "5"},
    {"resources.workers", "1", "1"},
    {"resources.device", "cuda", "cuda"},
    {"resources.max_restarts", "3", "3"},
    {"resources.priority", "0", "0"},
};

// The defaults table is code: a row that does not fit the schema is a bug.
void FillLiteral(SpecReader& reader, v1::JobSpec* spec, const char* path, const char* literal) {
  if (reader.Given(path)) {
    return;
  }
  if (!reader.Assign(YAML::Load(literal), path, spec)) {
    LogError(absl::StrCat("jobspec: default ", path, "=", literal, " does not fit job_spec.proto"));
    std::abort();
  }
}

// Decoder heads for a custom finetune model, whose decoder is never built
// but must still be concrete: about one head per 64 channels like the
// presets, lowered to a divisor of the width so the spec stays valid.
int DerivedDecoderHeads(int decoder_embed_dim) {
  int heads = std::max(1, static_cast<int>(std::lround(decoder_embed_dim / 64.0)));
  while (heads > 1 && decoder_embed_dim % heads != 0) {
    --heads;
  }
  return heads;
}

std::string ListMissing(const std::vector<std::string>& missing) {
  return absl::StrCat(absl::StrJoin(missing, ", "), missing.size() == 1 ? " is" : " are",
                      " not given");
}

void ApplyModelPreset(SpecReader& reader, v1::JobSpec* spec, Diagnostics* diagnostics) {
  v1::ModelSpec* model = spec->mutable_model();
  auto absent = [&](const char* field) { return !reader.Given(absl::StrCat("model.", field)); };

  // Shared by every size, custom included.
  if (absent("mlp_ratio")) {
    model->set_mlp_ratio(kDefaultMlpRatio);
  }
  if (absent("patch_size")) {
    model->set_patch_size(kDefaultPatchSize);
  }
  if (absent("tubelet_size")) {
    model->set_tubelet_size(kDefaultTubeletSize);
  }
  if (absent("num_frames")) {
    model->set_num_frames(kDefaultNumFrames);
  }
  if (absent("image_size")) {
    model->set_image_size(kDefaultImageSize);
  }
  if (absent("decoder_depth")) {
    model->set_decoder_depth(kDefaultDecoderDepth);
  }

  const char* const kSized[] = {"embed_dim",         "depth", "num_heads", "decoder_embed_dim",
                                "decoder_num_heads", "decoder_depth"};
  if (const ArchPreset* preset = FindArchPreset(model->arch()); preset != nullptr) {
    // Any field the user gave wins over the preset.
    if (absent("embed_dim")) {
      model->set_embed_dim(preset->embed_dim);
    }
    if (absent("depth")) {
      model->set_depth(preset->depth);
    }
    if (absent("num_heads")) {
      model->set_num_heads(preset->num_heads);
    }
    if (absent("decoder_embed_dim")) {
      model->set_decoder_embed_dim(preset->decoder_embed_dim);
    }
    if (absent("decoder_depth")) {
      model->set_decoder_depth(preset->decoder_depth);
    }
    if (absent("decoder_num_heads")) {
      model->set_decoder_num_heads(preset->decoder_num_heads);
    }
    return;
  }
  if (model->arch() != kCustomArch) {
    // Missing or unknown arch: validation reports it once; keep the size
    // fields it would have filled from also being reported as zero.
    for (const char* field : kSized) {
      if (absent(field)) {
        diagnostics->Block(absl::StrCat("model.", field));
      }
    }
    return;
  }

  const Location at_arch = reader.Locate("model.arch");
  std::vector<std::string> missing;
  for (const char* field : {"embed_dim", "depth", "num_heads"}) {
    if (absent(field)) {
      missing.push_back(field);
      diagnostics->Block(absl::StrCat("model.", field));
    }
  }
  if (!missing.empty()) {
    diagnostics->Add(at_arch, "model.arch", absl::StrCat("arch custom: ", ListMissing(missing)),
                     "model.embed_dim, model.depth and model.num_heads (custom has no preset)");
  }
  if (spec->kind() == v1::JOB_KIND_PRETRAIN) {
    // The decoder is trained in pre-training, so its size is the user's call.
    std::vector<std::string> missing_decoder;
    for (const char* field : {"decoder_embed_dim", "decoder_num_heads"}) {
      if (absent(field)) {
        missing_decoder.push_back(field);
        diagnostics->Block(absl::StrCat("model.", field));
      }
    }
    if (!missing_decoder.empty()) {
      diagnostics->Add(at_arch, "model.arch",
                       absl::StrCat("arch custom in a pretrain job: ", ListMissing(missing_decoder)),
                       "model.decoder_embed_dim and model.decoder_num_heads");
    }
    return;
  }
  // Fine-tuning drops the decoder; fill half width like the presets.
  if (absent("decoder_embed_dim")) {
    if (model->embed_dim() > 0) {
      model->set_decoder_embed_dim(std::max(1, model->embed_dim() / 2));
    } else {
      diagnostics->Block("model.decoder_embed_dim");
    }
  }
  if (absent("decoder_num_heads")) {
    if (model->decoder_embed_dim() > 0) {
      model->set_decoder_num_heads(DerivedDecoderHeads(model->decoder_embed_dim()));
    } else {
      diagnostics->Block("model.decoder_num_heads");
    }
  }
}

}  // namespace

void ApplyPresetAndDefaults(SpecReader& reader, v1::JobSpec* spec, Diagnostics* diagnostics) {
  ApplyModelPreset(reader, spec, diagnostics);

  for (const RecipeDefault& row : kRecipe) {
    const char* value = nullptr;
    switch (spec->kind()) {
      case v1::JOB_KIND_PRETRAIN:
        value = row.pretrain;
        break;
      case v1::JOB_KIND_FINETUNE:
        value = row.finetune;
        break;
      default:
        // No kind: only what both recipes agree on.
        if (row.pretrain != nullptr && row.finetune != nullptr &&
            std::string(row.pretrain) == row.finetune) {
          value = row.pretrain;
        }
        break;
    }
    if (value != nullptr) {
      FillLiteral(reader, spec, row.path, value);
    }
  }

  v1::ResourceSpec* resources = spec->mutable_resources();
  // Not elastic unless asked: the full size is also the minimum.
  if (!reader.Given("resources.min_workers")) {
    resources->set_min_workers(resources->workers());
  }
  // bf16 keeps fp32's range without a loss scaler on GPUs; CPUs get fp32,
  // because half-precision matmuls on CPU are slow or missing.
  if (!reader.Given("resources.precision")) {
    resources->set_precision(resources->device() == "cpu" ? "fp32" : "bf16");
  }
}

}  // namespace vmae::jobspec::internal
