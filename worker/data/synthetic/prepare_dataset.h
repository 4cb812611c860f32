// Re-encodes every video of a data list for fast loading (see reencode.h)
// into a new folder with the same relative paths, and writes the list there.
//
// Resumable: an output that exists and is not older than its input is kept
// (outputs only ever appear complete, so an existing one is whole). Inputs
// that fail are skipped, counted and left out of the written list; their
// outputs are never left half-written.
#ifndef VMAE_WORKER_DATA_SYNTHETIC_PREPARE_DATASET_H_
#define VMAE_WORKER_DATA_SYNTHETIC_PREPARE_DATASET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/synthetic/parallel_jobs.h"
#include "worker/data/synthetic/reencode.h"

namespace vmae::synthetic {

struct PrepareSummary {
  int listed = 0;      // entries in the input list
  int reencoded = 0;   // written by this run
  int up_to_date = 0;  // kept from an earlier run
  int failed = 0;      // skipped, and left out of the written list
  // "<path>: <why>" per failed input, in list order.
  std::vector<std::string> failures;
  std::string out_list;  // out_dir/<name of in_list>
};

// Reads `in_list` with the training's own list reader
// (worker/data/manifest/manifest.h: "path label" lines or CSV, paths
// relative to `in_root`), re-encodes each video to out_dir/<path> on
// `threads` threads (0 = one per hardware thread) and writes
// out_dir/<basename of in_list> with the videos that succeeded: "path label"
// lines with the paths as listed (normalised) and the labels, or CSV when a
// path holds a space. The output keeps each path, so a ".webm" name may hold
// MP4 data; FFmpeg goes by content, not by name.
// Errors: the list's (NOT_FOUND; INVALID_ARGUMENT naming the line, also for
// a path that is absolute or leaves the root); INVALID_ARGUMENT when out_dir
// is in_root (it would overwrite the inputs); the first failure's code when
// every input fails. `progress` may be empty.
absl::StatusOr<PrepareSummary> PrepareDataset(const std::string& in_list,
                                              const std::string& in_root,
                                              const std::string& out_dir,
                                              const ReencodeOptions& options, int threads,
                                              const ProgressFn& progress = nullptr);

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_PREPARE_DATASET_H_
