// Native vmae checkpoints (docs/checkpoint-format.md): `dir/model.safetensors`
// holds every model parameter under its module name (the VideoMAE authors'
// names) plus the AdamW state under `optimizer.`, and `dir/manifest.json`
// says where training stands. Both files are written atomically (temporary
// name, fsync, rename, directory fsync).
#ifndef VMAE_WORKER_CHECKPOINT_NATIVE_NATIVE_CHECKPOINT_H_
#define VMAE_WORKER_CHECKPOINT_NATIVE_NATIVE_CHECKPOINT_H_

#include <torch/nn/module.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/train/optimizer.h"

namespace vmae::checkpoint {

// File names inside a checkpoint directory.
inline constexpr char kNativeModelFile[] = "model.safetensors";
inline constexpr char kNativeManifestFile[] = "manifest.json";
// The format version this code writes and the largest it reads.
inline constexpr int64_t kNativeFormatVersion = 1;

// The contents of manifest.json (see docs/checkpoint-format.md).
struct NativeManifest {
  int64_t format_version = kNativeFormatVersion;
  // "pretrain" or "finetune"; also written as `vmae.kind` in the
  // safetensors metadata.
  std::string kind = "pretrain";
  // Optimizer steps completed.
  int64_t step = 0;
  // Training samples consumed.
  int64_t samples_seen = 0;
  struct DataCursor {
    int64_t epoch = 0;
    int64_t position = 0;
  } data_cursor;
  struct Schedule {
    int64_t samples_seen = 0;
    int64_t optimizer_step = 0;
  } schedule;
  // The job spec as JSON text (proto3 JSON of vmae.v1.JobSpec), opaque here.
  // Written into the manifest as a JSON value (it must parse); read back as
  // compact JSON text. Empty means null.
  std::string job_spec_json = "{}";
  struct Provenance {
    std::string version;
    std::string git_hash;
    std::string data_list_sha256;
    int64_t data_list_length = 0;
  } provenance;
};

// manifest.json text for `manifest`. INVALID_ARGUMENT when job_spec_json is
// not valid JSON or kind is not pretrain/finetune.
absl::StatusOr<std::string> NativeManifestToJson(const NativeManifest& manifest);

// Parses manifest.json text; `file` names the source in errors.
// INVALID_ARGUMENT for malformed JSON, a missing or mistyped field, an
// unknown kind; FAILED_PRECONDITION for a format_version above
// kNativeFormatVersion.
absl::StatusOr<NativeManifest> ParseNativeManifest(const std::string& json_text,
                                                   const std::string& file);

// Writes dir/model.safetensors and then dir/manifest.json (creating `dir`
// when needed). Every parameter of `model` is stored under its
// named_parameters() name as a contiguous little-endian CPU copy (F64, F32,
// BF16 or F16 as the parameter's dtype). With `opt`, each of its parameters
// that has AdamW state adds `optimizer.exp_avg.<name>`,
// `optimizer.exp_avg_sq.<name>` (the parameter's shape and dtype),
// `optimizer.max_exp_avg_sq.<name>` (amsgrad only) and
// `optimizer.step.<name>` (I64, shape []). Metadata: `vmae.kind` and
// `format_version`. Errors name the file; an optimizer parameter that is not
// one of the model's is INVALID_ARGUMENT.
absl::Status SaveNative(const std::string& dir, const torch::nn::Module& model,
                        const train::GroupedAdamW* opt, const NativeManifest& manifest);

// Reads dir/manifest.json and dir/model.safetensors into `model` (and, with
// `opt`, the AdamW state), strictly: every model parameter must be present
// with its shape and a floating dtype (converted to the parameter's dtype),
// and every tensor outside `optimizer.` must be a model parameter. With
// `opt`, optimizer state must be complete per parameter (exp_avg,
// exp_avg_sq and step, all or none) and shaped like the parameter;
// parameters without state in the file get none (as a fresh optimizer).
// Everything is checked before anything is changed: on error the model and
// optimizer are untouched. INVALID_ARGUMENT lists every missing, unexpected
// and mismatched tensor by name; FAILED_PRECONDITION when the file's
// `vmae.kind` differs from the manifest's. Without `opt`, optimizer tensors
// are ignored.
absl::StatusOr<NativeManifest> LoadNative(const std::string& dir, torch::nn::Module& model,
                                          train::GroupedAdamW* opt);

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_NATIVE_NATIVE_CHECKPOINT_H_
