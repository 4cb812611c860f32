#include "worker/data/loader/clip_loader.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/random/permutation.h"
#include "worker/data/loader/clip_maker.h"
#include "worker/data/video/index_cache.h"

namespace vmae::data {
namespace {

// A decoded sample waiting to be assembled, or why it could not be made.
struct SampleResult {
  absl::Status status;
  std::unique_ptr<float[]> clips;  // views x clip_floats
  video::DecodeStats decode;
  bool known_bad = false;  // skipped without reading: found bad in an earlier epoch
};

std::shared_ptr<float> HeapAllocate(size_t floats) {
  return std::shared_ptr<float>(new float[floats], std::default_delete<float[]>());
}

}  // namespace

struct ClipLoader::State {
  std::vector<ManifestEntry> entries;
  LoaderOptions options;
  video::IndexCache index_cache;
  size_t window = 0;

  mutable std::mutex mu;
  std::condition_variable work_cv;    // decode threads wait for work
  std::condition_variable result_cv;  // Next() waits for the sample it needs
  bool stopping = false;
  uint64_t generation = 0;  // bumped by StartEpoch; stale results are dropped
  uint64_t epoch = 0;
  RankStream stream;
  size_t next_claim = 0;    // next stream position a decode thread takes
  size_t next_consume = 0;  // next stream position Next() assembles
  int64_t step = 0;
  std::map<size_t, SampleResult> ready;
  std::set<int64_t> known_bad;
  DataErrorCounts errors;
  LoaderStats stats;
  std::vector<std::unique_ptr<float[]>> free_buffers;

  std::vector<std::thread> threads;

  State(std::vector<ManifestEntry> e, LoaderOptions o)
      : entries(std::move(e)),
        options(std::move(o)),
        index_cache(/*max_entries=*/std::max<size_t>(entries.size(), 1), options.index_cache_dir) {}

  size_t SampleFloats() const {
    return static_cast<size_t>(options.recipe.views()) *
           static_cast<size_t>(options.recipe.clip_floats());
  }

  bool HasWork() const {
    return next_claim < stream.samples.size() && next_claim < next_consume + window;
  }

  void DecodeLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      work_cv.wait(lock, [&] { return stopping || HasWork(); });
      if (stopping) return;
      const size_t position = next_claim++;
      const uint64_t my_generation = generation;
      const int64_t sample = stream.samples[position];
      const uint64_t my_epoch = epoch;
      SampleResult result;
      if (known_bad.count(sample) > 0) {
        result.known_bad = true;
        result.status = absl::DataLossError("known bad");
      } else {
        std::unique_ptr<float[]> buffer;
        if (!free_buffers.empty()) {
          buffer = std::move(free_buffers.back());
          free_buffers.pop_back();
        }
        lock.unlock();
        if (buffer == nullptr) buffer.reset(new float[SampleFloats()]);
        const ClipRequest request{entries[static_cast<size_t>(sample)].path, sample, my_epoch};
        result.status =
            MakeClips(options.recipe, request, index_cache, buffer.get(), &result.decode);
        result.clips = std::move(buffer);
        lock.lock();
      }
      if (my_generation == generation) {
        ready.emplace(position, std::move(result));
        result_cv.notify_all();
      } else if (result.clips != nullptr) {
        free_buffers.push_back(std::move(result.clips));
      }
    }
  }

  // Counts and logs a bad sample; an error once there are too many.
  absl::Status RecordBad(int64_t sample, const absl::Status& status) {
    const std::optional<BadSampleKind> kind = BadSampleKindOf(status);
    errors.by_kind[static_cast<size_t>(*kind)]++;
    known_bad.insert(sample);
    errors.distinct_samples = static_cast<int64_t>(known_bad.size());
    const int64_t n = static_cast<int64_t>(entries.size());
    const double limit = options.max_bad_fraction * static_cast<double>(n);
    LogLine(LogLevel::kWarning, options.log,
            absl::StrFormat("data: skipped sample %d (%s): %s: %s; %d of %d samples bad so far",
                            sample, entries[static_cast<size_t>(sample)].path,
                            std::string(BadSampleKindName(*kind)), status.message(),
                            errors.distinct_samples, n));
    if (static_cast<double>(errors.distinct_samples) > limit) {
      std::string by_kind;
      for (BadSampleKind k : kAllBadSampleKinds) {
        const int64_t count = errors.by_kind[static_cast<size_t>(k)];
        if (count > 0) {
          absl::StrAppend(&by_kind, by_kind.empty() ? "" : ", ", count, " ",
                          std::string(BadSampleKindName(k)));
        }
      }
      return absl::FailedPreconditionError(absl::StrFormat(
          "%d of the %d samples in the data list are unreadable (%s), more than "
          "data.max_bad_fraction = %g allows; the log names each file: repair or remove "
          "them from the list (or run `vmae prepare`), or raise data.max_bad_fraction",
          errors.distinct_samples, n, by_kind, options.max_bad_fraction));
    }
    return absl::OkStatus();
  }
};

ClipLoader::ClipLoader(std::unique_ptr<State> state) : state_(std::move(state)) {}

absl::StatusOr<std::unique_ptr<ClipLoader>> ClipLoader::Create(std::vector<ManifestEntry> entries,
                                                               LoaderOptions options) {
  if (entries.empty()) {
    return absl::InvalidArgumentError("the data list has no entries; add 'path label' lines");
  }
  if (options.slice.batch < 1 || options.slice.world < 1 || options.slice.rank < 0 ||
      options.slice.rank >= options.slice.world) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bad data slice: batch %d, world %d, rank %d; need batch >= 1 and 0 <= rank < world",
        options.slice.batch, options.slice.world, options.slice.rank));
  }
  if (options.decode_threads < 1) {
    return absl::InvalidArgumentError("data.decode_threads must be at least 1");
  }
  if (!options.allocate) options.allocate = HeapAllocate;
  auto state = std::make_unique<State>(std::move(entries), std::move(options));
  const LoaderOptions& o = state->options;
  state->window = o.prefetch_samples > 0
                      ? static_cast<size_t>(o.prefetch_samples)
                      : static_cast<size_t>(2 * o.slice.batch + o.decode_threads);
  std::unique_ptr<ClipLoader> loader(new ClipLoader(std::move(state)));
  State* s = loader->state_.get();
  for (int i = 0; i < s->options.decode_threads; ++i) {
    s->threads.emplace_back([s] { s->DecodeLoop(); });
  }
  return loader;
}

ClipLoader::~ClipLoader() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->work_cv.notify_all();
  for (std::thread& t : state_->threads) t.join();
}

void ClipLoader::StartEpoch(uint64_t epoch, int64_t cursor) {
  State& s = *state_;
  const int64_t n = static_cast<int64_t>(s.entries.size());
  std::vector<int64_t> order;
  if (s.options.shuffle) {
    order = random::EpochPermutation(n, s.options.recipe.seed, epoch);
  } else {
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  RankStream stream = MakeRankStream(order, cursor, s.options.slice);
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.generation++;
    s.epoch = epoch;
    s.stream = std::move(stream);
    s.next_claim = 0;
    s.next_consume = 0;
    s.step = 0;
    for (auto& [position, result] : s.ready) {
      if (result.clips != nullptr) s.free_buffers.push_back(std::move(result.clips));
    }
    s.ready.clear();
  }
  s.work_cv.notify_all();
}

int64_t ClipLoader::steps_in_epoch() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stream.steps;
}

absl::StatusOr<std::optional<HostBatch>> ClipLoader::Next() {
  State& s = *state_;
  const ClipRecipe& recipe = s.options.recipe;
  const int views = recipe.views();
  const size_t clip_floats = static_cast<size_t>(recipe.clip_floats());
  std::unique_lock<std::mutex> lock(s.mu);
  if (s.step >= s.stream.steps) return std::optional<HostBatch>();
  HostBatch batch;
  batch.step = s.step;
  const int64_t videos = s.options.slice.batch;
  batch.clips = s.options.allocate(static_cast<size_t>(videos * views) * clip_floats);
  while (batch.num_videos < videos && s.next_consume < s.stream.samples.size()) {
    const size_t position = s.next_consume;
    const absl::Time wait_start = absl::Now();
    s.result_cv.wait(lock, [&] { return s.ready.count(position) > 0; });
    s.stats.wait_seconds += absl::ToDoubleSeconds(absl::Now() - wait_start);
    SampleResult result = std::move(s.ready.at(position));
    s.ready.erase(position);
    s.next_consume++;
    s.work_cv.notify_all();
    const int64_t sample = s.stream.samples[position];
    if (result.known_bad) continue;
    if (!result.status.ok()) {
      if (result.clips != nullptr) s.free_buffers.push_back(std::move(result.clips));
      if (!BadSampleKindOf(result.status).has_value()) {
        // Not the file's fault: a failure of our own, which must not be hidden.
        return absl::Status(
            result.status.code(),
            absl::StrCat("data: sample ", sample, " (", s.entries[static_cast<size_t>(sample)].path,
                         "): ", result.status.message()));
      }
      if (absl::Status bad = s.RecordBad(sample, result.status); !bad.ok()) return bad;
      continue;
    }
    // Copy outside the lock: the buffer is ours now.
    std::unique_ptr<float[]> clips = std::move(result.clips);
    lock.unlock();
    std::memcpy(batch.clips.get() + static_cast<size_t>(batch.num_videos * views) * clip_floats,
                clips.get(), static_cast<size_t>(views) * clip_floats * sizeof(float));
    lock.lock();
    s.free_buffers.push_back(std::move(clips));
    for (int view = 0; view < views; ++view) {
      batch.labels.push_back(s.entries[static_cast<size_t>(sample)].label);
      batch.samples.push_back(sample);
      batch.views.push_back(view);
    }
    batch.num_videos++;
    s.stats.samples++;
    s.stats.frames_decoded += result.decode.frames_decoded;
    s.stats.frames_kept += result.decode.frames_kept;
  }
  batch.num_clips = batch.num_videos * views;
  s.step++;
  if (batch.num_videos == 0) return std::optional<HostBatch>();
  return std::optional<HostBatch>(std::move(batch));
}

DataErrorCounts ClipLoader::errors() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->errors;
}

LoaderStats ClipLoader::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

int64_t ClipLoader::dataset_size() const { return static_cast<int64_t>(state_->entries.size()); }

}  // namespace vmae::data
