// The training loader of one rank: decode threads, a bounded prefetch
// window, bad-sample skipping, and batches assembled in a fixed order.
//
// Determinism: every clip is a pure function of (seed, epoch, sample, view)
// (clip_maker.h) and batches are assembled in the rank's stream order
// (rank_stream.h), whatever finishes first. So batches are identical for any
// number of decode threads, and a restart from a cursor resumes mid-epoch.
//
// Bad data: a sample whose file is missing, empty, not a video, truncated,
// undecodable, without frames or too slow (its BadSampleKind) is counted by
// kind, logged with its path, remembered (later epochs skip it without
// reading it again) and replaced by the next entry of the rank's stream,
// never by a random substitute. Once more than max_bad_fraction of the list
// is known bad, Next() fails with a message that says what to do.
#ifndef VMAE_WORKER_DATA_LOADER_CLIP_LOADER_H_
#define VMAE_WORKER_DATA_LOADER_CLIP_LOADER_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/logging.h"
#include "worker/data/bad_sample.h"
#include "worker/data/loader/clip_recipe.h"
#include "worker/data/loader/rank_stream.h"
#include "worker/data/manifest/manifest.h"

namespace vmae::data {

struct LoaderOptions {
  ClipRecipe recipe;
  RankSlice slice;
  int decode_threads = 4;
  // Samples decoded ahead of the one being assembled; 0 means two batches
  // plus one per thread.
  int prefetch_samples = 0;
  double max_bad_fraction = 0.01;
  // Training walks EpochPermutation(n, seed, epoch); evaluation the list order.
  bool shuffle = true;
  // Where file indexes are kept between runs ("" = memory only).
  std::string index_cache_dir;
  LogContext log;
  // Where batches are written; pinned host memory when training on CUDA
  // (batch_tensor.h). Default: ordinary heap memory.
  std::function<std::shared_ptr<float>(size_t floats)> allocate;
};

// Clips of one step, sample-major: the views of a sample are adjacent.
struct HostBatch {
  std::shared_ptr<float> clips;  // [clips, 3, T, S, S]
  int64_t num_clips = 0;
  int64_t num_videos = 0;
  std::vector<int64_t> labels;   // per clip; -1 when the list has none
  std::vector<int64_t> samples;  // per clip: index in the data list
  std::vector<int32_t> views;    // per clip
  int64_t step = 0;              // step within the epoch, from the epoch's start
};

struct DataErrorCounts {
  // Samples found bad, by kind (each counted once: later epochs skip them).
  std::array<int64_t, std::size(kAllBadSampleKinds)> by_kind{};
  int64_t distinct_samples = 0;  // samples known to be bad
};

struct LoaderStats {
  int64_t samples = 0;         // good samples delivered
  int64_t frames_decoded = 0;  // by the codec, kept or not
  int64_t frames_kept = 0;
  double wait_seconds = 0;  // time Next() spent waiting for decode threads
};

class ClipLoader {
 public:
  static absl::StatusOr<std::unique_ptr<ClipLoader>> Create(std::vector<ManifestEntry> entries,
                                                            LoaderOptions options);
  ~ClipLoader();
  ClipLoader(const ClipLoader&) = delete;
  ClipLoader& operator=(const ClipLoader&) = delete;

  // Starts `epoch` with `cursor` of its entries already consumed by all
  // ranks (0 for a fresh epoch); abandons any epoch in progress.
  void StartEpoch(uint64_t epoch, int64_t cursor = 0);
  // Full steps in the current epoch from its starting cursor.
  int64_t steps_in_epoch() const;
  // The next batch, nullopt once the epoch's steps are done. A batch is short
  // only when bad samples used up all the rank's spares.
  absl::StatusOr<std::optional<HostBatch>> Next();

  DataErrorCounts errors() const;
  LoaderStats stats() const;
  int64_t dataset_size() const;

 private:
  struct State;
  explicit ClipLoader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_CLIP_LOADER_H_
