// BuildVideoIndex against ffprobe, the serialized form, and IndexCache.
#include "worker/data/video/video_index.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/video/test_videos.h"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/index_cache.h"

namespace vmae::video {
namespace {

using testing::ReadFile;
using testing::RunStdout;
using testing::Video;
using testing::WriteFile;

struct ProbedPackets {
  int64_t count = 0;
  std::vector<int64_t> sorted_pts;
  std::vector<int64_t> keyframes;  // positions in sorted_pts
};

// ffprobe's view of the first video stream's packets: pts (dts when pts is
// missing) and the K flag, turned into presentation-order positions.
ProbedPackets Probe(const std::string& path) {
  ProbedPackets p;
  bool ok = false;
  std::string out = RunStdout({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                               "packet=pts,dts,flags", "-of", "csv=p=0", path},
                              &ok);
  EXPECT_TRUE(ok) << "ffprobe -show_packets failed on " << path;
  std::vector<int64_t> key_pts;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ',');
    if (f.size() < 3) {
      continue;
    }
    int64_t pts = 0;
    if (!absl::SimpleAtoi(f[0], &pts)) {
      EXPECT_TRUE(absl::SimpleAtoi(f[1], &pts)) << line;
    }
    p.sorted_pts.push_back(pts);
    if (f[2].find('K') != std::string::npos) {
      key_pts.push_back(pts);
    }
  }
  std::sort(p.sorted_pts.begin(), p.sorted_pts.end());
  for (int64_t k : key_pts) {
    p.keyframes.push_back(std::lower_bound(p.sorted_pts.begin(), p.sorted_pts.end(), k) -
                          p.sorted_pts.begin());
  }
  std::sort(p.keyframes.begin(), p.keyframes.end());
  std::string count =
      RunStdout({"ffprobe", "-v", "error", "-select_streams", "v:0", "-count_packets",
                 "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path},
                &ok);
  // csv adds a field per side data entry ("40," for a rotated file).
  std::string first = std::string(absl::StripAsciiWhitespace(count)).substr(0, count.find(','));
  EXPECT_TRUE(ok && absl::SimpleAtoi(first, &p.count)) << count;
  return p;
}

class VideoIndexTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VideoIndexTest, MatchesFfprobePacketsAndKeyframes) {
  const auto& v = Video(GetParam());
  if (v.path.empty()) {
    GTEST_SKIP() << v.skip_reason;
  }
  auto video = ReadEncodedVideo(v.path);
  ASSERT_OK(video);
  auto index = BuildVideoIndex(*video);
  ASSERT_OK(index);
  ProbedPackets probed = Probe(v.path);
  EXPECT_EQ(index->frame_count(), probed.count);
  EXPECT_EQ(index->frame_pts, probed.sorted_pts);
  EXPECT_EQ(index->keyframes, probed.keyframes);
  EXPECT_FALSE(index->keyframes.empty());
  EXPECT_TRUE(std::is_sorted(index->frame_pts.begin(), index->frame_pts.end()));
}

INSTANTIATE_TEST_SUITE_P(Codecs, VideoIndexTest,
                         ::testing::Values("h264", "h264_g16", "mpeg4", "vp9", "av1", "odd",
                                           "rot90", "vfr", "dup_pts"));

TEST(VideoIndexInfoTest, StreamInfoMatchesHowTheFilesWereMade) {
  auto h264 = BuildVideoIndex(*ReadEncodedVideo(Video("h264").path));
  ASSERT_OK(h264);
  EXPECT_EQ(h264->info.codec, "h264");
  EXPECT_EQ(h264->info.coded_width, 160);
  EXPECT_EQ(h264->info.coded_height, 120);
  EXPECT_EQ(h264->info.rotation, 0);
  EXPECT_EQ(h264->frame_count(), 90);
  EXPECT_NEAR(h264->info.average_fps, 25.0, 0.01);
  EXPECT_NEAR(h264->info.duration_seconds, 90 / 25.0, 0.05);

  // ffprobe reports the display matrix's counter-clockwise angle; the index
  // holds the clockwise one, and the displayed size is transposed for 90/270.
  for (const char* name : {"rot90", "rot180", "rot270"}) {
    const auto& v = Video(name);
    auto index = BuildVideoIndex(*ReadEncodedVideo(v.path));
    ASSERT_OK(index);
    bool ok = false;
    std::string out =
        RunStdout({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                   "stream_side_data=rotation", "-of", "csv=p=0", v.path},
                  &ok);
    int ccw = 0;
    ASSERT_TRUE(ok && absl::SimpleAtoi(absl::StripAsciiWhitespace(out), &ccw)) << out;
    int clockwise = ((-ccw) % 360 + 360) % 360;
    EXPECT_EQ(index->info.rotation, clockwise) << name;
    bool swap = clockwise == 90 || clockwise == 270;
    EXPECT_EQ(index->info.width, swap ? 120 : 160) << name;
    EXPECT_EQ(index->info.height, swap ? 160 : 120) << name;
  }

  // VFR: the steps between timestamps are not all equal (1 ms time base).
  auto vfr = BuildVideoIndex(*ReadEncodedVideo(Video("vfr").path));
  ASSERT_OK(vfr);
  ASSERT_EQ(vfr->frame_count(), 60);
  EXPECT_EQ(vfr->time_base_den / std::max(vfr->time_base_num, 1), 1000);
  std::vector<int64_t> steps;
  for (size_t i = 1; i < vfr->frame_pts.size(); ++i) {
    steps.push_back(vfr->frame_pts[i] - vfr->frame_pts[i - 1]);
  }
  // Frame n at 40n (+15 when n % 3 == 2) ms: steps 40, 55, 25, 40, 55, 25...
  EXPECT_EQ(steps[0], 40);
  EXPECT_EQ(steps[1], 55);
  EXPECT_EQ(steps[2], 25);

  // Repeated timestamps stay in the index (frame i is still the i-th
  // smallest), so the frame count matches a full decode.
  auto dup = BuildVideoIndex(*ReadEncodedVideo(Video("dup_pts").path));
  ASSERT_OK(dup);
  EXPECT_EQ(dup->frame_count(), 60);
  EXPECT_NE(std::adjacent_find(dup->frame_pts.begin(), dup->frame_pts.end()), dup->frame_pts.end())
      << "the dup_pts file was meant to repeat a timestamp";
}

TEST(VideoIndexSerializeTest, RoundTripsAndRejectsGarbage) {
  auto index = BuildVideoIndex(*ReadEncodedVideo(Video("h264_g16").path));
  ASSERT_OK(index);
  std::string bytes = index->Serialize();
  // Compact: well under 4 bytes per frame for evenly spaced timestamps.
  EXPECT_LT(bytes.size(), 100 + 4 * index->frame_pts.size());
  auto parsed = VideoIndex::Parse(bytes);
  ASSERT_OK(parsed);
  EXPECT_EQ(parsed->frame_pts, index->frame_pts);
  EXPECT_EQ(parsed->keyframes, index->keyframes);
  EXPECT_EQ(parsed->stream_index, index->stream_index);
  EXPECT_EQ(parsed->time_base_num, index->time_base_num);
  EXPECT_EQ(parsed->time_base_den, index->time_base_den);
  EXPECT_EQ(parsed->info.codec, index->info.codec);
  EXPECT_EQ(parsed->info.width, index->info.width);
  EXPECT_EQ(parsed->info.height, index->info.height);
  EXPECT_EQ(parsed->info.rotation, index->info.rotation);
  EXPECT_EQ(parsed->info.average_fps, index->info.average_fps);
  EXPECT_EQ(parsed->info.duration_seconds, index->info.duration_seconds);

  EXPECT_FALSE(VideoIndex::Parse("").ok());
  EXPECT_FALSE(VideoIndex::Parse("hello, this is not an index at all").ok());
  EXPECT_FALSE(VideoIndex::Parse(bytes.substr(0, bytes.size() / 2)).ok());
  EXPECT_FALSE(VideoIndex::Parse(bytes + "x").ok());
  std::mt19937 rng(7);
  for (int i = 0; i < 50; ++i) {
    std::string flipped = bytes;
    size_t at = rng() % flipped.size();
    flipped[at] = static_cast<char>(flipped[at] ^ (1 + rng() % 255));
    EXPECT_FALSE(VideoIndex::Parse(flipped).ok()) << "byte " << at << " flipped";
  }
  std::string random(bytes.size(), '\0');
  for (char& c : random) {
    c = static_cast<char>(rng());
  }
  random.replace(0, 4, "VMIX");
  EXPECT_FALSE(VideoIndex::Parse(random).ok());
}

TEST(IndexCacheTest, DiskCacheIsSharedAcrossCachesAndCorruptFilesAreRebuilt) {
  std::string dir = testing::ScratchDir() + "/index-cache";
  auto video = ReadEncodedVideo(Video("h264_g16").path);
  ASSERT_OK(video);
  auto expected = BuildVideoIndex(*video);
  ASSERT_OK(expected);
  {
    IndexCache cache(4, dir);
    auto a = cache.GetOrBuild(*video);
    ASSERT_OK(a);
    auto b = cache.GetOrBuild(*video);
    ASSERT_OK(b);
    EXPECT_EQ(a->get(), b->get());  // the same shared object from memory
    EXPECT_EQ(cache.stats().builds, 1);
    EXPECT_EQ(cache.stats().memory_hits, 1);
    EXPECT_EQ((*a)->frame_pts, expected->frame_pts);
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    files.push_back(e.path().string());
  }
  ASSERT_EQ(files.size(), 1u) << "one cache file, no temporaries left behind";
  {
    IndexCache cache(4, dir);
    auto a = cache.GetOrBuild(*video);
    ASSERT_OK(a);
    EXPECT_EQ(cache.stats().builds, 0);
    EXPECT_EQ(cache.stats().disk_hits, 1);
    EXPECT_EQ((*a)->frame_pts, expected->frame_pts);
    EXPECT_EQ((*a)->keyframes, expected->keyframes);
  }
  // A corrupt file is a miss: rebuilt and rewritten, not an error.
  std::string bytes = ReadFile(files[0]);
  bytes[bytes.size() - 3] ^= 0x55;
  WriteFile(files[0], bytes);
  {
    IndexCache cache(4, dir);
    auto a = cache.GetOrBuild(*video);
    ASSERT_OK(a);
    EXPECT_EQ(cache.stats().builds, 1);
    EXPECT_EQ(cache.stats().disk_errors, 1);
    EXPECT_EQ((*a)->frame_pts, expected->frame_pts);
  }
  {
    IndexCache cache(4, dir);
    ASSERT_OK(cache.GetOrBuild(*video));
    EXPECT_EQ(cache.stats().disk_hits, 1) << "the rebuilt file was written back";
  }
  // A changed mtime is a different key.
  EncodedVideo touched = *video;
  touched.mtime_ns += 1;
  IndexCache cache(4, dir);
  ASSERT_OK(cache.GetOrBuild(touched));
  EXPECT_EQ(cache.stats().builds, 1);
}

TEST(IndexCacheTest, MemoryLruEvictsTheLeastRecentlyUsed) {
  IndexCache cache(2);
  std::vector<EncodedVideo> videos;
  for (const char* name : {"h264", "h264_g16", "mpeg4"}) {
    auto v = ReadEncodedVideo(Video(name).path);
    ASSERT_OK(v);
    videos.push_back(*v);
  }
  ASSERT_OK(cache.GetOrBuild(videos[0]));
  ASSERT_OK(cache.GetOrBuild(videos[1]));
  ASSERT_OK(cache.GetOrBuild(videos[0]));  // 0 is now more recent than 1
  ASSERT_OK(cache.GetOrBuild(videos[2]));  // evicts 1
  ASSERT_OK(cache.GetOrBuild(videos[0]));
  EXPECT_EQ(cache.stats().builds, 3);
  ASSERT_OK(cache.GetOrBuild(videos[1]));
  EXPECT_EQ(cache.stats().builds, 4);
  EXPECT_EQ(cache.stats().memory_hits, 2);
}

}  // namespace
}  // namespace vmae::video
