// Per-video predictions of a multi-view evaluation as a JSON-lines file, for
// error analysis and for comparing runs (the authors write a text file per
// rank with the raw logits of every view; this is the merged result).
#ifndef VMAE_WORKER_EVAL_PREDICTION_WRITER_H_
#define VMAE_WORKER_EVAL_PREDICTION_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/eval/multi_view.h"

namespace vmae::eval {

// One line (without the newline), keys in this order:
//   {"video_id":"a.mp4","label":3,"num_views":15,
//    "top_k":[{"class":3,"prob":0.71},{"class":0,"prob":0.12}]}
// Probabilities are written with enough digits to read back the same
// double. InvalidArgument when the video id is not valid UTF-8 (JSON
// strings cannot hold it).
absl::StatusOr<std::string> PredictionJsonLine(const VideoPrediction& prediction);

// Writes one line per prediction, in the given order, to `path`, atomically:
// the lines go to a fresh temporary file next to `path`, which is flushed to
// disk and then renamed over `path`. A reader (or a crash) sees the old file
// or the whole new one, never a torn one. On an error before the rename
// `path` is untouched and the temporary file removed; only the final fsync
// of the directory can fail after it (the new file is then in place but
// maybe not yet durable). Errors carry the errno's code and the path.
absl::Status WritePredictions(const std::string& path,
                              const std::vector<VideoPrediction>& predictions);

}  // namespace vmae::eval

#endif  // VMAE_WORKER_EVAL_PREDICTION_WRITER_H_
