// Writing a loaded checkpoint (checkpoint_loader.h) in another format:
// native (model.safetensors + manifest.json, no optimizer state) or Hugging
// Face (model.safetensors + config.json, through ExportToHuggingFace, so the
// result is exactly what the coordinator's export writes and what
// transformers' from_pretrained loads).
//
// Output is all or nothing: the files are written into a fresh sibling
// directory and renamed into place (the whole directory when `out_dir` does
// not exist yet, else file by file, weights first); on any error nothing at
// `out_dir` changes and the staging directory is removed.
#ifndef VMAE_WORKER_CHECKPOINT_CHECKPOINT_CONVERT_H_
#define VMAE_WORKER_CHECKPOINT_CHECKPOINT_CONVERT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/checkpoint/hf_export.h"
#include "worker/checkpoint/checkpoint_loader.h"
#include "worker/checkpoint/native/native_checkpoint.h"

namespace vmae::checkpoint {

// What config.json needs that tensor shapes do not hold. Zero / empty /
// nullopt means: what the checkpoint says (config.json of a Hugging Face
// source, the job spec of a native one), else the default given.
struct HfExportSettings {
  // Encoder and decoder attention heads. Default: the checkpoint's, else the
  // authors' sizes table by width (192: 3, 384: 6, 512: 8, 640: 8, 768: 12,
  // 1024: 16, 1280: 16, 1408: 16); any other width must be given.
  int64_t num_heads = 0;
  int64_t decoder_num_heads = 0;
  // Clip length and square input side. Defaults: 16 and 224.
  int64_t num_frames = 0;
  int64_t image_size = 0;
  // Pre-training target normalisation (norm_pix_loss). Default: true.
  std::optional<bool> normalize_target;
  // Class names in class order. Default: LABEL_i.
  std::vector<std::string> labels;
};

// The attention heads the authors use for a block width (the sizes table of
// docs/videomae-reference.md), or 0 for a width not in it.
int64_t StandardNumHeads(int64_t width);

// config.json inputs for `ckpt` (validated with DimsFromConfig).
// INVALID_ARGUMENT when a head count is unknown (naming the setting to
// pass) or the sizes do not validate.
absl::StatusOr<HfConfigInputs> HfConfigForCheckpoint(const LoadedCheckpoint& ckpt,
                                                     const HfExportSettings& settings);

// The manifest a native copy of `ckpt` gets: the source's own when it has
// one (step, samples seen, cursor, job spec, provenance); otherwise kind,
// step 0 and a job spec with the `model` sizes the checkpoint states (and
// `pretrain.normalize_target` from a Hugging Face config).
absl::StatusOr<NativeManifest> NativeManifestForCheckpoint(const LoadedCheckpoint& ckpt);

// Writes `ckpt` as a native checkpoint into `out_dir` (model.safetensors with
// `vmae.kind`, then manifest.json). FAILED_PRECONDITION when `ckpt` was not
// loaded with the strict check, or when `out_dir` is a file or holds a
// Hugging Face config.json; INVALID_ARGUMENT when the tensors do not match
// the architecture; errno-derived codes for I/O failures. Errors name the
// directory.
absl::Status WriteNativeCheckpoint(const LoadedCheckpoint& ckpt, const std::string& out_dir);

// Writes `ckpt` as a Hugging Face checkpoint into `out_dir`
// (model.safetensors with transformers' names, then config.json).
// FAILED_PRECONDITION as above (a native manifest.json in `out_dir` instead
// of config.json); INVALID_ARGUMENT for settings HfConfigForCheckpoint
// refuses or tensors that do not fit.
absl::Status WriteHfCheckpoint(const LoadedCheckpoint& ckpt, const HfExportSettings& settings,
                               const std::string& out_dir);

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_CHECKPOINT_CONVERT_H_
