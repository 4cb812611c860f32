// Runs a decode plan with our decoder (worker/data/video) the way the
// training loader does: per clip, read the file into memory, look up its
// index in a warm IndexCache, open a ClipDecoder and decode every target
// into a preallocated buffer; one clip per thread, `threads` clips in flight.
#ifndef VMAE_BENCH_DECODE_DECODE_RUNNER_H_
#define VMAE_BENCH_DECODE_DECODE_RUNNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/decode/decode_plan.h"
#include "worker/data/video/clip_decoder.h"

namespace vmae::bench {

struct RunOptions {
  int threads = 1;          // clips decoded at once, one per thread. Default: 1
  bool skip_nonref = true;  // DecodeOptions::skip_nonref. Default: true
};

// Milliseconds of one clip, by step.
struct ClipTiming {
  double read_ms = 0;    // ReadEncodedVideo
  double index_ms = 0;   // IndexCache::GetOrBuild, a memory hit
  double open_ms = 0;    // ClipDecoder::Open
  double decode_ms = 0;  // ClipDecoder::Decode
  double total_ms = 0;
  video::DecodeStats stats;
};

struct RunResult {
  double wall_s = 0;                   // all clips, first start to last end
  double cpu_s = 0;                    // process CPU time over the same span
  std::vector<ClipTiming> clips;       // in plan order
  std::vector<double> index_build_ms;  // the cold index build of each file used, untimed above
};

// Builds the index of every file the plan uses (timed apart: the cold
// cost), then times all clips. Fails on the first clip that fails, naming it.
absl::StatusOr<RunResult> RunOurs(const Plan& plan, const RunOptions& options);

// Decodes clip `clip` alone and returns its targets' pixels, packed RGB24,
// targets in plan order: for the PSNR check against the baseline.
absl::StatusOr<std::vector<uint8_t>> DecodeClipPixels(const Plan& plan, int clip,
                                                      const RunOptions& options);

// The result file both implementations write (pyav_decode.py writes the
// same fields): impl, workload, workers, clips, wall_s, cpu_s, latency_ms[],
// frames_decoded, frames_kept, seeks; ours adds the per-step means and the
// cold index build times.
std::string RunResultToJson(const Plan& plan, const RunOptions& options, const RunResult& result);

}  // namespace vmae::bench

#endif  // VMAE_BENCH_DECODE_DECODE_RUNNER_H_
