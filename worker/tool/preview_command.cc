// `vmae preview`: the clips one sample of a job's data list becomes, as the
// model sees them (after sampling, crops, augmentation and, for fine-tuning,
// erasing), written as PNGs; for pre-training with the tube mask greyed out.
// For checking a data set and a recipe before spending GPU hours on them.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/jobspec/jobspec.h"
#include "common/status_macros.h"
#include "worker/data/loader/clip_maker.h"
#include "worker/data/loader/mask_seed.h"
#include "worker/data/loader/recipe_from_spec.h"
#include "worker/data/manifest/manifest.h"
#include "worker/data/video/index_cache.h"
#include "worker/model/masking.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"
#include "worker/tool/model_from_spec.h"
#include "worker/tool/png_writer.h"
#include "worker/tool/run_verb.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"config", false, "the job file (its data, model and augmentation settings)"},
      {"index", false, "which entry of the list, from 0 (default 0)"},
      {"epoch", false, "which epoch's random draws (default 0)"},
      {"split", false, "train (default), val (one centre clip) or test (all test views)"},
      {"out", false, "folder for the PNGs (created)"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae preview --config JOB.yaml --out DIR [--index I] [--epoch E] [--split "
    "train|val|test]\n"
    "Writes the clips of one data-list entry as the model sees them, one PNG per frame\n"
    "and view; for pre-training also the frames with the masked patches greyed out.\n";

// Normalised [3, T, S, S] floats back to [T, S, S, 3] bytes.
at::Tensor ToRgb(const float* clip, int64_t frames, int64_t size) {
  const at::Tensor normalised =
      at::from_blob(const_cast<float*>(clip), {3, frames, size, size}, at::kFloat);
  const at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}).view({3, 1, 1, 1});
  const at::Tensor stdev = at::tensor({0.229f, 0.224f, 0.225f}).view({3, 1, 1, 1});
  return (normalised * stdev + mean)
      .mul(255.0)
      .round()
      .clamp(0, 255)
      .to(at::kByte)
      .permute({1, 2, 3, 0})
      .contiguous();
}

// Masked tubes blended three quarters of the way to grey, as a mask overlay.
at::Tensor Overlay(const at::Tensor& rgb, const at::Tensor& mask, const model::TokenGrid& grid,
                   int64_t tubelet, int64_t patch) {
  at::Tensor hidden = mask.view({grid.t, 1, grid.h, 1, grid.w, 1})
                          .expand({grid.t, tubelet, grid.h, patch, grid.w, patch})
                          .reshape({grid.t * tubelet, grid.h * patch, grid.w * patch, 1});
  const at::Tensor grey = rgb.to(at::kFloat) * 0.25 + 128 * 0.75;
  return at::where(hidden, grey, rgb.to(at::kFloat)).round().to(at::kByte);
}

absl::Status Preview(const ParsedFlags& flags) {
  std::string config, out;
  VMAE_ASSIGN_OR_RETURN(config, flags.Require("config"));
  VMAE_ASSIGN_OR_RETURN(out, flags.Require("out"));
  int64_t index = 0, epoch = 0;
  VMAE_ASSIGN_OR_RETURN(index, flags.GetInt("index", 0));
  VMAE_ASSIGN_OR_RETURN(epoch, flags.GetInt("epoch", 0));
  const std::string split = flags.Get("split", "train");
  if (split != "train" && split != "val" && split != "test") {
    return absl::InvalidArgumentError(
        absl::StrCat("--split=", split, ": expected train, val or test"));
  }
  v1::JobSpec spec;
  VMAE_ASSIGN_OR_RETURN(spec, jobspec::LoadJobSpecFile(config));
  const std::string list = split == "train" ? spec.data().train() : spec.data().val();
  if (list.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config, " has no data.val list; preview --split train instead"));
  }
  std::vector<data::ManifestEntry> entries;
  VMAE_ASSIGN_OR_RETURN(entries, data::ReadManifest(spec.data().root(), list));
  if (index < 0 || index >= static_cast<int64_t>(entries.size())) {
    return absl::OutOfRangeError(absl::StrFormat("--index=%d: %s has %d entries (0 to %d)", index,
                                                 list, entries.size(), entries.size() - 1));
  }
  const data::ClipRecipe recipe =
      split == "train" ? data::TrainRecipe(spec) : data::EvalRecipe(spec, split == "test");
  video::IndexCache index_cache(1);
  std::vector<float> clips(static_cast<size_t>(recipe.views() * recipe.clip_floats()));
  const data::ClipRequest request{entries[static_cast<size_t>(index)].path, index,
                                  static_cast<uint64_t>(epoch)};
  VMAE_RETURN_IF_ERROR(data::MakeClips(recipe, request, index_cache, clips.data()));

  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create --out '", out, "': ", ec.message()));
  }
  const bool masked = split == "train" && spec.kind() == v1::JOB_KIND_PRETRAIN;
  const model::ModelOptions model_options = ModelOptionsFromSpec(spec.model());
  const model::TokenGrid grid = model::GridOf(model_options);
  int written = 0;
  for (int view = 0; view < recipe.views(); ++view) {
    const at::Tensor rgb =
        ToRgb(clips.data() + recipe.clip_floats() * view, recipe.num_frames, recipe.image_size);
    at::Tensor overlay;
    if (masked) {
      const uint64_t seed = data::MaskSeed(recipe.seed, static_cast<uint64_t>(epoch), index, view);
      const at::Tensor mask =
          spec.pretrain().mask_type() == v1::MASK_TYPE_RANDOM
              ? model::RandomMask(grid.Size(), spec.pretrain().mask_ratio(), seed)
              : model::TubeMask(grid.t, grid.h, grid.w, spec.pretrain().mask_ratio(), seed);
      overlay = Overlay(rgb, mask, grid, model_options.tubelet_size(), model_options.patch_size());
    }
    for (int t = 0; t < recipe.num_frames; ++t) {
      const std::string stem = absl::StrFormat("%s/view%02d_frame%02d", out, view, t);
      VMAE_RETURN_IF_ERROR(WritePng(stem + ".png", rgb[t]));
      ++written;
      if (masked) {
        VMAE_RETURN_IF_ERROR(WritePng(stem + "_masked.png", overlay[t]));
        ++written;
      }
    }
  }
  std::printf("wrote %d PNGs of entry %lld (%s, label %lld) to %s\n", written,
              static_cast<long long>(index), entries[static_cast<size_t>(index)].path.c_str(),
              static_cast<long long>(entries[static_cast<size_t>(index)].label), out.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunPreview(const std::vector<std::string>& args) {
  return RunVerb("preview", kUsage, Flags(), args, Preview);
}

}  // namespace vmae::tool
