// A decode benchmark plan: which frames of which files each clip takes and
// how each kept frame is cropped. `vmae_decode_bench plan` writes it as JSON
// and both implementations (ours and the PyAV baseline, pyav_decode.py) read
// the same file, so they do exactly the same work.
#ifndef VMAE_BENCH_DECODE_DECODE_PLAN_H_
#define VMAE_BENCH_DECODE_DECODE_PLAN_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/data/video/clip_decoder.h"

namespace vmae::bench {

struct PlanFile {
  std::string path;
  int64_t frame_count = 0;  // from our index; the baseline checks its own count against it
  int width = 0;            // displayed size
  int height = 0;
};

struct PlanClip {
  int file = 0;                                  // index into Plan::files
  std::vector<int64_t> frames;                   // distinct frames to decode, ascending
  std::vector<video::CropResize> crops;          // out size is the plan's
  std::vector<std::pair<int64_t, int>> targets;  // output images in order: (frame, crop)
};

struct Plan {
  std::string workload;
  int out_width = 224;
  int out_height = 224;
  std::vector<PlanFile> files;
  std::vector<PlanClip> clips;
};

// JSON with the fields above; crops are [x, y, width, height] arrays and
// targets [frame, crop] arrays.
std::string PlanToJson(const Plan& plan);

// Parses PlanToJson's output and checks it (file and crop references,
// frames within each file, frames ascending and covering the targets), so
// that a hand-edited plan fails here and not inside a decoder. `source`
// names the file in messages.
absl::StatusOr<Plan> PlanFromJson(const std::string& json, const std::string& source);

}  // namespace vmae::bench

#endif  // VMAE_BENCH_DECODE_DECODE_PLAN_H_
