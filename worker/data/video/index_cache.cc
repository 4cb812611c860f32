#include "worker/data/video/index_cache.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/data/video/fnv1a.h"

namespace vmae::video {
namespace {

// A cache file is the key (so a hash collision reads as a miss) followed by
// VideoIndex::Serialize().
constexpr char kFileMagic[] = "vmae-index-cache\n";

std::string KeyOf(const EncodedVideo& video) {
  size_t size = video.bytes == nullptr ? 0 : video.bytes->size();
  return absl::StrCat(video.name, "\n", size, "\n", video.mtime_ns);
}

}  // namespace

IndexCache::IndexCache(size_t max_entries, std::string disk_dir)
    : max_entries_(std::max<size_t>(max_entries, 1)), disk_dir_(std::move(disk_dir)) {
  if (!disk_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(disk_dir_, ec);  // failures show up as write errors
  }
}

absl::StatusOr<std::shared_ptr<const VideoIndex>> IndexCache::GetOrBuild(
    const EncodedVideo& video) {
  std::string key = KeyOf(video);
  if (auto hit = LookupMemory(key)) {
    return hit;
  }
  if (!disk_dir_.empty()) {
    if (auto hit = ReadDisk(key)) {
      InsertMemory(key, hit);
      return hit;
    }
  }
  auto built = BuildVideoIndex(video);
  if (!built.ok()) {
    return built.status();
  }
  auto index = std::make_shared<const VideoIndex>(std::move(built).value());
  {
    absl::MutexLock lock(&mu_);
    ++stats_.builds;
  }
  if (!disk_dir_.empty()) {
    WriteDisk(key, *index);
  }
  InsertMemory(key, index);
  return index;
}

IndexCache::Stats IndexCache::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

std::shared_ptr<const VideoIndex> IndexCache::LookupMemory(const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) {
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.memory_hits;
  return it->second->second;
}

void IndexCache::InsertMemory(const std::string& key, std::shared_ptr<const VideoIndex> index) {
  absl::MutexLock lock(&mu_);
  auto it = by_key_.find(key);
  if (it != by_key_.end()) {
    it->second->second = std::move(index);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, std::move(index));
  by_key_[key] = lru_.begin();
  while (lru_.size() > max_entries_) {
    by_key_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

std::string IndexCache::DiskPath(const std::string& key) const {
  return absl::StrFormat("%s/%016x.vidx", disk_dir_, Fnv1a(key));
}

std::shared_ptr<const VideoIndex> IndexCache::ReadDisk(const std::string& key) {
  std::ifstream in(DiskPath(key), std::ios::binary);
  if (!in) {
    return nullptr;  // not cached yet
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string bytes = buf.str();
  std::string header = absl::StrCat(kFileMagic, key.size(), "\n", key);
  if (bytes.compare(0, header.size(), header) != 0) {
    absl::MutexLock lock(&mu_);
    ++stats_.disk_errors;  // another key's file (hash collision) or garbage
    return nullptr;
  }
  auto parsed = VideoIndex::Parse(std::string_view(bytes).substr(header.size()));
  absl::MutexLock lock(&mu_);
  if (!parsed.ok()) {
    ++stats_.disk_errors;
    return nullptr;
  }
  ++stats_.disk_hits;
  return std::make_shared<const VideoIndex>(std::move(parsed).value());
}

void IndexCache::WriteDisk(const std::string& key, const VideoIndex& index) {
  // Write a temporary file and rename it over the final name, so a reader
  // (another thread or process) sees either no file or a whole one. Not
  // checkpoint::WriteFileAtomically: two threads or workers may write the
  // same index at once, and its one fixed "<path>.tmp" would let them
  // truncate each other's file; here each write has its own temporary name.
  // Nor its fsyncs: a cache file lost in a crash is only rebuilt.
  static std::atomic<uint64_t> counter{0};
  std::string path = DiskPath(key);
  std::string tmp = absl::StrFormat("%s.tmp.%d.%d", path, getpid(), counter.fetch_add(1));
  bool ok = false;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kFileMagic << key.size() << "\n" << key << index.Serialize();
    out.flush();
    ok = static_cast<bool>(out);
  }
  if (ok) {
    ok = std::rename(tmp.c_str(), path.c_str()) == 0;
  }
  if (!ok) {
    std::remove(tmp.c_str());
    absl::MutexLock lock(&mu_);
    ++stats_.disk_errors;
  }
}

}  // namespace vmae::video
