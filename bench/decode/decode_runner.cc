#include "bench/decode/decode_runner.h"

#include <time.h>

#include <algorithm>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/index_cache.h"

namespace vmae::bench {
namespace {

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double MsSince(absl::Time start) { return absl::ToDoubleMilliseconds(absl::Now() - start); }

size_t ImageBytes(const Plan& plan) {
  return static_cast<size_t>(plan.out_width) * plan.out_height * 3;
}

size_t MaxTargets(const Plan& plan) {
  size_t most = 0;
  for (const PlanClip& clip : plan.clips) {
    most = std::max(most, clip.targets.size());
  }
  return most;
}

// One clip, step by step, into `out` (at least targets x image bytes).
absl::Status DecodeClip(const Plan& plan, int c, const RunOptions& options,
                        video::IndexCache& cache, uint8_t* out, ClipTiming* timing) {
  const PlanClip& clip = plan.clips[c];
  const absl::Time start = absl::Now();
  VMAE_ASSIGN_OR_RETURN(video::EncodedVideo encoded,
                        video::ReadEncodedVideo(plan.files[clip.file].path));
  timing->read_ms = MsSince(start);
  absl::Time step = absl::Now();
  VMAE_ASSIGN_OR_RETURN(std::shared_ptr<const video::VideoIndex> index, cache.GetOrBuild(encoded));
  timing->index_ms = MsSince(step);
  step = absl::Now();
  VMAE_ASSIGN_OR_RETURN(std::unique_ptr<video::ClipDecoder> decoder,
                        video::ClipDecoder::Open(std::move(encoded), std::move(index)));
  timing->open_ms = MsSince(step);
  step = absl::Now();
  std::vector<video::FrameTarget> targets;
  targets.reserve(clip.targets.size());
  for (size_t t = 0; t < clip.targets.size(); ++t) {
    targets.push_back(video::FrameTarget{clip.targets[t].first, clip.targets[t].second,
                                         out + t * ImageBytes(plan), plan.out_width * 3});
  }
  video::DecodeOptions decode_options;
  decode_options.skip_nonref = options.skip_nonref;
  VMAE_RETURN_IF_ERROR(decoder->Decode(targets, clip.crops, decode_options, &timing->stats));
  timing->decode_ms = MsSince(step);
  timing->total_ms = MsSince(start);
  return absl::OkStatus();
}

absl::Status ClipError(const Plan& plan, int c, const absl::Status& status) {
  return absl::Status(
      status.code(), absl::StrCat("clip ", c, " of the plan (", plan.files[plan.clips[c].file].path,
                                  "): ", status.message()));
}

// Builds every used file's index once, as training does before the first
// epoch reaches the file again; returns the build times.
absl::StatusOr<std::vector<double>> WarmIndexes(const Plan& plan, video::IndexCache& cache) {
  std::set<int> used;
  for (const PlanClip& clip : plan.clips) {
    used.insert(clip.file);
  }
  std::vector<double> build_ms;
  for (int file : used) {
    VMAE_ASSIGN_OR_RETURN(video::EncodedVideo encoded,
                          video::ReadEncodedVideo(plan.files[file].path));
    const absl::Time start = absl::Now();
    absl::StatusOr<std::shared_ptr<const video::VideoIndex>> index = cache.GetOrBuild(encoded);
    if (!index.ok()) {
      return absl::Status(index.status().code(), absl::StrCat("indexing ", plan.files[file].path,
                                                              ": ", index.status().message()));
    }
    build_ms.push_back(MsSince(start));
    if ((*index)->frame_count() != plan.files[file].frame_count) {
      return absl::FailedPreconditionError(absl::StrCat(
          plan.files[file].path, " now has ", (*index)->frame_count(), " frames, the plan says ",
          plan.files[file].frame_count, "; the file changed, write a new plan"));
    }
  }
  return build_ms;
}

}  // namespace

absl::StatusOr<RunResult> RunOurs(const Plan& plan, const RunOptions& options) {
  if (options.threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads is ", options.threads, "; give at least 1"));
  }
  video::IndexCache cache(plan.files.size() + 1);
  RunResult result;
  VMAE_ASSIGN_OR_RETURN(result.index_build_ms, WarmIndexes(plan, cache));
  result.clips.resize(plan.clips.size());
  absl::Mutex mu;
  absl::Status first_error;
  auto worker = [&](int t) {
    std::vector<uint8_t> out(MaxTargets(plan) * ImageBytes(plan));
    for (size_t c = t; c < plan.clips.size(); c += options.threads) {
      const int clip = static_cast<int>(c);
      absl::Status status = DecodeClip(plan, clip, options, cache, out.data(), &result.clips[c]);
      if (!status.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) {
          first_error = ClipError(plan, clip, status);
        }
        return;
      }
    }
  };
  const double cpu_start = ProcessCpuSeconds();
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back(worker, t);
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  result.wall_s = absl::ToDoubleSeconds(absl::Now() - start);
  result.cpu_s = ProcessCpuSeconds() - cpu_start;
  VMAE_RETURN_IF_ERROR(first_error);
  return result;
}

absl::StatusOr<std::vector<uint8_t>> DecodeClipPixels(const Plan& plan, int clip,
                                                      const RunOptions& options) {
  if (clip < 0 || clip >= static_cast<int>(plan.clips.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("--clip ", clip, " is not in the plan (", plan.clips.size(), " clips)"));
  }
  video::IndexCache cache(1);
  std::vector<uint8_t> out(plan.clips[clip].targets.size() * ImageBytes(plan));
  ClipTiming timing;
  absl::Status status = DecodeClip(plan, clip, options, cache, out.data(), &timing);
  if (!status.ok()) {
    return ClipError(plan, clip, status);
  }
  return out;
}

std::string RunResultToJson(const Plan& plan, const RunOptions& options, const RunResult& result) {
  nlohmann::json latency = nlohmann::json::array();
  video::DecodeStats total;
  double read = 0, index = 0, open = 0, decode = 0;
  for (const ClipTiming& clip : result.clips) {
    latency.push_back(clip.total_ms);
    total.frames_decoded += clip.stats.frames_decoded;
    total.frames_kept += clip.stats.frames_kept;
    total.seeks += clip.stats.seeks;
    total.packets_sent += clip.stats.packets_sent;
    read += clip.read_ms;
    index += clip.index_ms;
    open += clip.open_ms;
    decode += clip.decode_ms;
  }
  const double n = std::max<double>(1, static_cast<double>(result.clips.size()));
  const nlohmann::json out = {
      {"impl", options.skip_nonref ? "ours" : "ours-noskip"},
      {"workload", plan.workload},
      {"workers", options.threads},
      {"clips", result.clips.size()},
      {"wall_s", result.wall_s},
      {"cpu_s", result.cpu_s},
      {"latency_ms", latency},
      {"frames_decoded", total.frames_decoded},
      {"frames_kept", total.frames_kept},
      {"seeks", total.seeks},
      {"packets_sent", total.packets_sent},
      {"mean_read_ms", read / n},
      {"mean_index_ms", index / n},
      {"mean_open_ms", open / n},
      {"mean_decode_ms", decode / n},
      {"index_build_ms", result.index_build_ms},
  };
  return out.dump();
}

}  // namespace vmae::bench
