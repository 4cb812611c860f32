// Video indexes, built once per file and shared: an in-memory LRU, and
// optionally one file per index in a directory so that the next run (or
// another worker on the same disk) skips the demux scan too.
//
// Entries are keyed by (name, size, mtime_ns): a file rewritten in place
// gets a new index. Thread-safe. Two threads asking for the same missing
// index may both build it; the builds are identical and the later insert
// wins, which is cheaper than holding a lock across a demux scan.
#ifndef VMAE_WORKER_DATA_VIDEO_INDEX_CACHE_H_
#define VMAE_WORKER_DATA_VIDEO_INDEX_CACHE_H_

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/video_index.h"

namespace vmae::video {

class IndexCache {
 public:
  // Keeps at most `max_entries` indexes in memory (at least 1). When
  // `disk_dir` is not empty, indexes are also read from and written to files
  // there (the directory is created if missing). A cache file that does not
  // parse or belongs to another key is rebuilt and overwritten, not an error.
  explicit IndexCache(size_t max_entries, std::string disk_dir = "");

  // The index of `video`, from memory, from disk, or built (bad-sample
  // errors from BuildVideoIndex pass through and are not cached).
  absl::StatusOr<std::shared_ptr<const VideoIndex>> GetOrBuild(const EncodedVideo& video);

  struct Stats {
    int64_t memory_hits = 0;
    int64_t disk_hits = 0;
    int64_t builds = 0;
    int64_t disk_errors = 0;  // unreadable/corrupt cache files and failed writes
  };
  Stats stats() const;

 private:
  using Entry = std::pair<std::string, std::shared_ptr<const VideoIndex>>;

  std::shared_ptr<const VideoIndex> LookupMemory(const std::string& key);
  void InsertMemory(const std::string& key, std::shared_ptr<const VideoIndex> index);
  std::shared_ptr<const VideoIndex> ReadDisk(const std::string& key);
  void WriteDisk(const std::string& key, const VideoIndex& index);
  std::string DiskPath(const std::string& key) const;

  const size_t max_entries_;
  const std::string disk_dir_;
  mutable absl::Mutex mu_;
  std::list<Entry> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  std::map<std::string, std::list<Entry>::iterator> by_key_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_INDEX_CACHE_H_
