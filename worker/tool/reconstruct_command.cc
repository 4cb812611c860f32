// `vmae reconstruct`: the pre-training model's reconstruction of the masked
// tokens of one clip batch, for checking a checkpoint against the authors'
// code and for looking at what the model learnt.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/model/masking.h"
#include "worker/model/pretrain_model.h"
#include "worker/model/target.h"
#include "worker/tool/checkpoint_weights.h"
#include "worker/tool/clip_input.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"
#include "worker/tool/load_weights.h"
#include "worker/tool/model_from_spec.h"
#include "worker/tool/png_writer.h"
#include "worker/tool/reconstruction_frames.h"
#include "worker/tool/tensor_file.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"checkpoint", false, "pre-training checkpoint: native dir, HF dir, or authors' .pth"},
      {"model-config", false, "job file or its model: section (arch and sizes)"},
      {"tensor", false, "input clip: torch.save of a float [B,3,T,H,W] normalised tensor"},
      {"mask", false, "torch.save of a bool [B,N] (or [N]) mask, true = hidden"},
      {"mask-ratio", false, "tube mask ratio when --mask is not given (default 0.9)"},
      {"seed", false, "seed of the tube mask when --mask is not given (default 0)"},
      {"normalize-target", true, "the model predicts per-patch normalised pixels (default true)"},
      {"output", false, "where to write the [B, N_masked, 3*tubelet*patch*patch] output .pt"},
      {"frames-dir", false, "also write original/masked/reconstructed PNGs of every frame here"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae reconstruct --checkpoint C --model-config M.yaml --tensor CLIP.pt\n"
    "                        [--mask MASK.pt] --output OUT.pt [--frames-dir DIR]\n"
    "Runs the pre-training model on a clip and writes its reconstruction of the\n"
    "masked tokens (in token order). Without --mask, a tube mask is drawn.\n";

absl::Status WriteFrames(const std::string& dir, const ReconstructionVideos& videos) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create --frames-dir '", dir, "': ", ec.message()));
  }
  const int64_t b = videos.original.size(0);
  const int64_t t = videos.original.size(1);
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t f = 0; f < t; ++f) {
      const std::string stem = absl::StrFormat("clip%02d_frame%02d", i, f);
      VMAE_RETURN_IF_ERROR(WritePng(absl::StrCat(dir, "/", stem, "_original.png"),
                                    videos.original[i][f]));
      VMAE_RETURN_IF_ERROR(
          WritePng(absl::StrCat(dir, "/", stem, "_masked.png"), videos.masked[i][f]));
      VMAE_RETURN_IF_ERROR(WritePng(absl::StrCat(dir, "/", stem, "_reconstructed.png"),
                                    videos.reconstructed[i][f]));
    }
  }
  return absl::OkStatus();
}

absl::Status Reconstruct(const ParsedFlags& flags) {
  std::string checkpoint, config, tensor_path, output;
  VMAE_ASSIGN_OR_RETURN(checkpoint, flags.Require("checkpoint"));
  VMAE_ASSIGN_OR_RETURN(config, flags.Require("model-config"));
  VMAE_ASSIGN_OR_RETURN(tensor_path, flags.Require("tensor"));
  VMAE_ASSIGN_OR_RETURN(output, flags.Require("output"));
  double ratio = 0;
  int64_t seed = 0;
  VMAE_ASSIGN_OR_RETURN(ratio, flags.GetDouble("mask-ratio", 0.9));
  VMAE_ASSIGN_OR_RETURN(seed, flags.GetInt("seed", 0));
  const bool normalize_target = flags.Get("normalize-target", "true") == "true";
  if (!(ratio > 0 && ratio < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--mask-ratio=", ratio, ": expected a fraction strictly between 0 and 1"));
  }

  model::ModelOptions options;
  VMAE_ASSIGN_OR_RETURN(options, LoadModelOptions(config, v1::JOB_KIND_PRETRAIN));
  at::Tensor clip;
  VMAE_ASSIGN_OR_RETURN(clip, ReadClipTensor(tensor_path, options));
  const model::TokenGrid grid = model::GridOf(options);
  at::Tensor mask;
  if (flags.Has("mask")) {
    VMAE_ASSIGN_OR_RETURN(mask, ReadMaskTensor(flags.Get("mask"), clip.size(0), grid.Size()));
  } else {
    mask = model::MaskBatch(model::MaskType::kTube, clip.size(0), grid, ratio,
                            model::MakeGenerator(static_cast<uint64_t>(seed)));
  }

  CheckpointWeights weights;
  VMAE_ASSIGN_OR_RETURN(weights, ReadCheckpointWeights(checkpoint));
  if (!weights.pretrain) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", checkpoint, "' is a fine-tuned classifier; reconstruct needs a "
                     "pre-training checkpoint (with its decoder); use `vmae predict` for it"));
  }
  model::PretrainVisionTransformer net(options);
  VMAE_RETURN_IF_ERROR(LoadWeightsStrict(*net, weights.tensors, checkpoint));
  net->eval();

  torch::NoGradGuard no_grad;
  at::Tensor pred;
  try {
    pred = net->forward(clip, mask);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model rejected the input: ", e.what_without_backtrace()));
  }
  VMAE_RETURN_IF_ERROR(WriteTensorFile(output, pred));
  const at::Tensor target = model::ReconstructionTarget(clip, options.tubelet_size(),
                                                        options.patch_size(), normalize_target);
  const double loss = model::ReconstructionLoss(pred, target, mask).item<double>();
  std::printf("wrote %s: [%s] for %lld of %lld tokens per clip; MSE against the %s target %.6g\n",
              output.c_str(), absl::StrJoin(pred.sizes(), ", ").c_str(),
              static_cast<long long>(pred.size(1)), static_cast<long long>(grid.Size()),
              normalize_target ? "normalised" : "pixel", loss);
  if (flags.Has("frames-dir")) {
    const ReconstructionVideos videos = RenderReconstruction(
        clip, mask, pred, options.tubelet_size(), options.patch_size(), normalize_target);
    VMAE_RETURN_IF_ERROR(WriteFrames(flags.Get("frames-dir"), videos));
    std::printf("wrote %lld PNGs to %s\n",
                static_cast<long long>(3 * videos.original.size(0) * videos.original.size(1)),
                flags.Get("frames-dir").c_str());
  }
  return absl::OkStatus();
}

}  // namespace

int RunReconstruct(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", kUsage, FlagsHelp(Flags()).c_str());
    return kExitOk;
  }
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, Flags());
  if (!flags.ok()) {
    std::fprintf(stderr, "vmae reconstruct: %s\n", std::string(flags.status().message()).c_str());
    return kExitUsage;
  }
  const absl::Status status = Reconstruct(*flags);
  if (!status.ok()) {
    std::fprintf(stderr, "vmae reconstruct: %s\n", std::string(status.message()).c_str());
    return ExitCodeFor(status);
  }
  return kExitOk;
}

}  // namespace vmae::tool
