// Import of the VideoMAE authors' `.pth` checkpoints (Python `torch.save`,
// zip format) without Python: LibTorch's zip reader for the records, our
// bounded pickle reader (pickle_reader.h) for `data.pkl`.
//
// The file is untrusted. Its size, the zip central directory and every record
// are bounded before anything is allocated; nothing in the pickle is executed.
// Errors: NOT_FOUND (no such file), DATA_LOSS (not a zip, truncated or
// corrupt, a record missing), INVALID_ARGUMENT (a malformed or hostile pickle,
// a limit exceeded, weights that are not a dict of tensors). Every message
// starts with the path. Nothing here throws.
//
// Thread-safety: the functions are reentrant; the returned tensors are plain
// CPU tensors owned by the caller.
#ifndef VMAE_WORKER_CHECKPOINT_PTH_IMPORT_H_
#define VMAE_WORKER_CHECKPOINT_PTH_IMPORT_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/checkpoint/pickle_reader.h"

namespace vmae::checkpoint {

/// Reads a whole `torch.save` file: the unpickled `data.pkl` with its tensors
/// (storages loaded from the zip, shared between views of the same storage).
/// Objects other than dicts, lists, tuples and tensors (an `argparse.Namespace`
/// in `args`, numpy scalars, ...) come back as opaque placeholders.
absl::StatusOr<PickleValue> LoadPth(const std::string& path, const PickleLimits& limits = {});

/// How LoadStateDictFromPth picks and renames the weights.
struct ImportOptions {
  /// A key that starts with one of these has it removed (the first that
  /// matches; once). Default: none.
  std::vector<std::string> strip_prefixes;
  /// A key that, after stripping, starts with one of these is dropped.
  /// Default: none.
  std::vector<std::string> drop_prefixes;
  /// Bounds on the file and its pickle. Default: PickleLimits's defaults.
  PickleLimits limits;

  /// The fine-tuning init from a pre-training checkpoint
  /// (docs/videomae-reference.md, "Loading a pre-trained checkpoint"): strip
  /// "encoder." or "backbone."; drop "decoder.", "encoder_to_decoder",
  /// "mask_token" and "norm." (the encoder's final norm: fine-tuning uses
  /// fc_norm after mean pooling).
  static ImportOptions ForFinetuning();
};

/// The weights of a checkpoint and what was left out of them.
struct ImportResult {
  /// The kept tensors under their (stripped) names. Tensors that shared a
  /// storage in the file still share it.
  std::map<std::string, at::Tensor> tensors;
  /// Where the weights were: "model", "module", or "" for the top-level dict.
  std::string weights_key;
  /// Original keys dropped by `drop_prefixes`, in file order.
  std::vector<std::string> dropped;
  /// Original keys that had a prefix stripped, in file order.
  std::vector<std::string> renamed;
  /// Other top-level entries, not imported ("optimizer", "epoch", "args",
  /// "scaler", ...), in file order. Empty when the weights are the top level.
  std::vector<std::string> other_entries;
};

/// Picks the weights out of an unpickled checkpoint: `root["model"]`, else
/// `root["module"]`, else `root` itself; then strips and drops names. Every
/// kept entry must be a tensor under a str key. `context` prefixes errors.
absl::StatusOr<ImportResult> ExtractStateDict(const PickleValue& root, const ImportOptions& opt,
                                              absl::string_view context);

/// LoadPth + ExtractStateDict.
absl::StatusOr<ImportResult> ImportPth(const std::string& path, const ImportOptions& opt = {});

/// ImportPth, tensors only.
absl::StatusOr<std::map<std::string, at::Tensor>> LoadStateDictFromPth(
    const std::string& path, const ImportOptions& opt = {});

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_PTH_IMPORT_H_
