// ClipDecoder against full decodes by the ffmpeg command line: kept frames
// bit-exact, crops within 40 dB PSNR, and the work it skips.
#include "worker/data/video/clip_decoder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/worker/data/video/test_videos.h"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/video_index.h"

namespace vmae::video {
namespace {

using testing::RunStdout;
using testing::Video;

struct Opened {
  std::unique_ptr<ClipDecoder> decoder;
  std::shared_ptr<const VideoIndex> index;
};

Opened OpenOrDie(const std::string& path) {
  Opened o;
  auto video = ReadEncodedVideo(path);
  EXPECT_OK(video);
  if (!video.ok()) {
    return o;
  }
  auto index = BuildVideoIndex(*video);
  EXPECT_OK(index);
  if (!index.ok()) {
    return o;
  }
  o.index = std::make_shared<const VideoIndex>(std::move(index).value());
  auto decoder = ClipDecoder::Open(*video, o.index);
  EXPECT_OK(decoder);
  if (decoder.ok()) {
    o.decoder = std::move(decoder).value();
  }
  return o;
}

std::string Probe(const std::string& path, const std::string& entry) {
  bool ok = false;
  std::string out = RunStdout({"ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                               "stream=" + entry, "-of", "csv=p=0", path},
                              &ok);
  EXPECT_TRUE(ok) << "ffprobe " << entry << " " << path;
  return std::string(absl::StripAsciiWhitespace(out));
}

// Every frame of the file in the decoder's own pixel format, as the ffmpeg
// command line decodes it (passthrough: frame i is its i-th output frame;
// no autorotation: DecodeRaw returns coded frames).
struct Reference {
  std::string pix_fmt;
  std::string bytes;
};
const Reference& FullDecode(const std::string& path) {
  static auto* cache = new std::map<std::string, Reference>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(path);
  if (it != cache->end()) {
    return it->second;
  }
  Reference ref;
  ref.pix_fmt = Probe(path, "pix_fmt");
  bool ok = false;
  ref.bytes =
      RunStdout({"ffmpeg", "-v", "error", "-noautorotate", "-i", path, "-map", "0:v:0", "-fps_mode",
                 "passthrough", "-f", "rawvideo", "-pix_fmt", ref.pix_fmt, "-"},
                &ok);
  EXPECT_TRUE(ok) << "ffmpeg full decode of " << path;
  return (*cache)[path] = ref;
}

// Checks frames against the reference; returns the number of mismatches.
void ExpectBitExact(const std::string& path, const std::vector<int64_t>& wanted,
                    const std::vector<RawFrame>& frames, const std::string& what) {
  const Reference& ref = FullDecode(path);
  std::vector<int64_t> sorted = wanted;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  ASSERT_EQ(frames.size(), sorted.size()) << what;
  for (size_t i = 0; i < frames.size(); ++i) {
    const RawFrame& f = frames[i];
    EXPECT_EQ(f.frame, sorted[i]) << what;
    std::string got;
    for (const auto& plane : f.planes) {
      got.append(plane.begin(), plane.end());
    }
    ASSERT_GT(got.size(), 0u);
    ASSERT_EQ(ref.bytes.size() % got.size(), 0u) << what << ": frame size " << got.size();
    size_t offset = static_cast<size_t>(f.frame) * got.size();
    ASSERT_LE(offset + got.size(), ref.bytes.size()) << what << " frame " << f.frame;
    EXPECT_TRUE(ref.bytes.compare(offset, got.size(), got) == 0)
        << what << ": frame " << f.frame << " differs from ffmpeg's frame " << f.frame;
  }
}

class BitExactTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BitExactTest, KeptFramesMatchFullDecode) {
  const auto& v = Video(GetParam());
  if (v.path.empty()) {
    GTEST_SKIP() << v.skip_reason;
  }
  Opened o = OpenOrDie(v.path);
  ASSERT_NE(o.decoder, nullptr);
  int64_t n = o.index->frame_count();
  const Reference& ref = FullDecode(v.path);
  ASSERT_FALSE(ref.bytes.empty());
  std::vector<std::vector<int64_t>> sets = {
      {0, 1, 2, n / 2, n - 2, n - 1},               // sorted, includes the last frames
      {n - 1, 3, n / 3, 7, n / 3, 0, (2 * n) / 3},  // unsorted, with a repeat
      {n / 2 + 1, n / 2 + 5, n / 2 + 9, n - 3},     // far from the first keyframe
      {n - 2},  // right after the previous set: the reused decoder goes on forward
  };
  for (bool skip : {true, false}) {
    for (const auto& set : sets) {
      // A fresh decoder and a reused one (the second call in a row starts
      // behind where the first ended).
      Opened fresh = OpenOrDie(v.path);
      ASSERT_NE(fresh.decoder, nullptr);
      for (ClipDecoder* d : {fresh.decoder.get(), o.decoder.get()}) {
        DecodeOptions options;
        options.skip_nonref = skip;
        auto frames = d->DecodeRaw(set, options);
        ASSERT_OK(frames);
        std::string what = absl::StrCat(v.name, " skip_nonref=", skip, " set starting ", set[0],
                                        d == o.decoder.get() ? " (reused decoder)" : "");
        ExpectBitExact(v.path, set, *frames, what);
        for (const RawFrame& f : *frames) {
          EXPECT_EQ(f.pts, o.index->frame_pts[static_cast<size_t>(f.frame)]);
        }
      }
    }
  }
  // Sizes: the reference holds exactly frame_count frames of this size.
  auto one = o.decoder->DecodeRaw(std::vector<int64_t>{0}, DecodeOptions());
  ASSERT_OK(one);
  size_t frame_size = 0;
  for (const auto& p : (*one)[0].planes) {
    frame_size += p.size();
  }
  EXPECT_EQ(ref.bytes.size(), frame_size * static_cast<size_t>(n));
  EXPECT_EQ(std::to_string((*one)[0].width), Probe(v.path, "width"));
  EXPECT_EQ(std::to_string((*one)[0].height), Probe(v.path, "height"));
}

INSTANTIATE_TEST_SUITE_P(Codecs, BitExactTest,
                         ::testing::Values("h264", "h264_g16", "mpeg4", "vp9", "av1", "odd", "vfr",
                                           "dup_pts"));

TEST(ClipDecoderTest, ParallelDecodersAreBitExact) {
  const auto& v = Video("h264_g16");
  ASSERT_FALSE(v.path.empty()) << v.skip_reason;
  FullDecode(v.path);  // make the reference before the threads start
  std::vector<std::vector<int64_t>> sets = {
      {5, 9, 13, 17}, {100, 104, 108, 112}, {60, 2, 119, 33}, {40, 41, 42, 43, 80, 81}};
  std::vector<absl::StatusOr<std::vector<RawFrame>>> results(sets.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < sets.size(); ++i) {
    threads.emplace_back([&, i] {
      auto video = ReadEncodedVideo(v.path);
      if (!video.ok()) {
        results[i] = video.status();
        return;
      }
      auto index = BuildVideoIndex(*video);
      if (!index.ok()) {
        results[i] = index.status();
        return;
      }
      auto d = ClipDecoder::Open(*video, std::make_shared<const VideoIndex>(*index));
      if (!d.ok()) {
        results[i] = d.status();
        return;
      }
      for (int repeat = 0; repeat < 3; ++repeat) {
        results[i] = (*d)->DecodeRaw(sets[i], DecodeOptions());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (size_t i = 0; i < sets.size(); ++i) {
    ASSERT_OK(results[i]);
    ExpectBitExact(v.path, sets[i], *results[i], absl::StrCat("thread ", i));
  }
}

TEST(ClipDecoderTest, SkipNonrefDecodesFewerFrames) {
  Opened o = OpenOrDie(Video("h264").path);
  ASSERT_NE(o.decoder, nullptr);
  std::vector<int64_t> sparse = {10, 30, 50, 70};
  DecodeStats with_skip;
  DecodeStats without_skip;
  DecodeOptions options;
  options.skip_nonref = true;
  ASSERT_OK(o.decoder->DecodeRaw(sparse, options, &with_skip));
  Opened o2 = OpenOrDie(Video("h264").path);
  options.skip_nonref = false;
  ASSERT_OK(o2.decoder->DecodeRaw(sparse, options, &without_skip));
  // Without skipping, every frame up to the last wanted one is decoded
  // (one keyframe in the file, so no seek helps).
  EXPECT_GE(without_skip.frames_decoded, 71);
  EXPECT_LT(with_skip.frames_decoded, without_skip.frames_decoded);
  EXPECT_EQ(with_skip.frames_kept, 4);
  EXPECT_EQ(without_skip.frames_kept, 4);
  EXPECT_EQ(with_skip.seeks, 0);
  std::printf("h264 sparse clip: %lld frames decoded with skip_nonref, %lld without\n",
              static_cast<long long>(with_skip.frames_decoded),
              static_cast<long long>(without_skip.frames_decoded));
}

TEST(ClipDecoderTest, SeeksOnlyForwardAndOnlyWhenAKeyframeIsAhead) {
  const auto& v = Video("h264_g16");
  Opened o = OpenOrDie(v.path);
  ASSERT_NE(o.decoder, nullptr);
  // A late clip inside one GOP: one seek to its keyframe, then a short
  // forward decode; far less than the 108 frames of a full decode.
  const auto& keys = o.index->keyframes;
  auto keyframe_of = [&](int64_t f) {
    return *(std::upper_bound(keys.begin(), keys.end(), f) - 1);
  };
  std::vector<int64_t> clip = {98, 101, 104, 107};
  int64_t kf = keyframe_of(98);
  ASSERT_GT(kf, 0);
  ASSERT_EQ(keyframe_of(107), kf) << "x264 put a keyframe inside the clip; adjust the test";
  DecodeStats stats;
  DecodeOptions options;
  options.skip_nonref = false;
  ASSERT_OK(o.decoder->DecodeRaw(clip, options, &stats));
  EXPECT_EQ(stats.seeks, 1);
  // From the keyframe to the last wanted frame, plus at most the decoder's
  // reorder delay (3 B-frames).
  EXPECT_LE(stats.frames_decoded, 107 - kf + 1 + 3);
  EXPECT_LT(stats.frames_decoded, 30);
  // A keyframe between two wanted frames is a cheap forward seek.
  Opened o4 = OpenOrDie(v.path);
  int64_t next_kf = *std::upper_bound(keys.begin(), keys.end(), 98);
  DecodeStats hop;
  ASSERT_OK(o4.decoder->DecodeRaw(std::vector<int64_t>{98, next_kf + 1}, options, &hop));
  EXPECT_EQ(hop.seeks, 2);

  // Two clusters in one call: decode from the start for frame 3, then one
  // forward seek for frame 100; frames close together never seek.
  Opened o2 = OpenOrDie(v.path);
  DecodeStats two;
  ASSERT_OK(o2.decoder->DecodeRaw(std::vector<int64_t>{3, 4, 100, 101}, options, &two));
  EXPECT_EQ(two.seeks, 1);
  Opened o3 = OpenOrDie(v.path);
  DecodeStats close_by;
  ASSERT_OK(o3.decoder->DecodeRaw(std::vector<int64_t>{1, 5, 9, 13}, options, &close_by));
  EXPECT_EQ(close_by.seeks, 0);
  EXPECT_LE(close_by.frames_decoded, 13 + 1 + 4);
}

// ---- crops ----

double Psnr(const std::vector<uint8_t>& a, const std::string& b) {
  EXPECT_EQ(a.size(), b.size());
  if (a.size() != b.size() || a.empty()) {
    return 0;
  }
  double se = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = static_cast<double>(a[i]) - static_cast<unsigned char>(b[i]);
    se += d * d;
  }
  double mse = se / static_cast<double>(a.size());
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// ffmpeg's answer for frame k, crop c, in displayed coordinates (ffmpeg
// autorotates). All even: the loader spec's reference, crop on YUV then one
// bilinear scale to RGB. Otherwise ffmpeg's YUV crop would round the origin
// and size down to even, so the reference crops exactly (exact=1, which
// offsets the chroma planes by floor(x/2), floor(y/2)) and tells the scaler
// where chroma sample 0 then sits: for 4:2:0 with centre-sited chroma, at
// luma (x - 1) + 0.5 - x = -0.5 pixel, i.e. -128/256, when x (y) is odd.
// Converting to RGB first and cropping there is no reference at 40 dB on
// testsrc2: its saturated colours clip, so resizing in RGB and in YUV differ
// by 25-30 dB even for even crops. Both use the decoder's swscale flags
// (bilinear+accurate_rnd+full_chroma_int): plain "bilinear" picks the nearest
// chroma sample for RGB output, which on those edges costs ~20 dB against
// the accurate conversion.
std::string ReferenceCrop(const std::string& path, int64_t k, const CropResize& c) {
  const char* kFlags = "bilinear+accurate_rnd+full_chroma_int";
  std::string filter;
  if (c.x % 2 == 0 && c.y % 2 == 0 && c.width % 2 == 0 && c.height % 2 == 0) {
    filter = absl::StrFormat("select=eq(n\\,%d),crop=%d:%d:%d:%d,scale=%d:%d:flags=%s", k, c.width,
                             c.height, c.x, c.y, c.out_width, c.out_height, kFlags);
  } else {
    int h_pos = c.x % 2 == 1 ? -128 : -513;  // -513: the scaler's default (centre)
    int v_pos = c.y % 2 == 1 ? -128 : -513;
    filter = absl::StrFormat(
        "select=eq(n\\,%d),crop=%d:%d:%d:%d:exact=1,"
        "scale=%d:%d:flags=%s:in_h_chr_pos=%d:in_v_chr_pos=%d",
        k, c.width, c.height, c.x, c.y, c.out_width, c.out_height, kFlags, h_pos, v_pos);
  }
  bool ok = false;
  std::string out =
      RunStdout({"ffmpeg", "-v", "error", "-i", path, "-vf", filter, "-fps_mode", "passthrough",
                 "-frames:v", "1", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"},
                &ok);
  EXPECT_TRUE(ok) << filter;
  return out;
}

void CheckCrops(const std::string& name, const std::vector<int64_t>& frames,
                const std::vector<CropResize>& crops) {
  const auto& v = Video(name);
  if (v.path.empty()) {
    GTEST_SKIP() << v.skip_reason;
  }
  Opened o = OpenOrDie(v.path);
  ASSERT_NE(o.decoder, nullptr);
  // Every frame x every crop, with padded rows to check out_stride.
  std::vector<FrameTarget> targets;
  std::vector<std::vector<uint8_t>> buffers;
  std::vector<int> strides;
  for (size_t i = 0; i < frames.size(); ++i) {
    for (size_t c = 0; c < crops.size(); ++c) {
      int stride = crops[c].out_width * 3 + 16;
      buffers.emplace_back(static_cast<size_t>(stride) * crops[c].out_height, 0xAB);
      strides.push_back(stride);
    }
  }
  size_t b = 0;
  for (int64_t f : frames) {
    for (size_t c = 0; c < crops.size(); ++c, ++b) {
      targets.push_back({f, static_cast<int>(c), buffers[b].data(), strides[b]});
    }
  }
  std::reverse(targets.begin(), targets.end());  // any order is allowed
  DecodeStats stats;
  ASSERT_OK(o.decoder->Decode(targets, crops, DecodeOptions(), &stats));
  for (const FrameTarget& t : targets) {
    const CropResize& c = crops[static_cast<size_t>(t.crop)];
    std::vector<uint8_t> packed;
    for (int y = 0; y < c.out_height; ++y) {
      const uint8_t* row = t.out + static_cast<ptrdiff_t>(y) * t.out_stride;
      packed.insert(packed.end(), row, row + c.out_width * 3);
      for (int pad = c.out_width * 3; pad < t.out_stride; ++pad) {
        ASSERT_EQ(row[pad], 0xAB) << "wrote past out_width in row " << y;
      }
    }
    double psnr = Psnr(packed, ReferenceCrop(v.path, t.frame, c));
    std::printf("%s frame %lld crop %dx%d@%d,%d -> %dx%d: %.1f dB\n", name.c_str(),
                static_cast<long long>(t.frame), c.width, c.height, c.x, c.y, c.out_width,
                c.out_height, psnr);
    EXPECT_GT(psnr, 40.0) << name << " frame " << t.frame << " crop " << t.crop;
  }
}

TEST(ClipDecoderCropTest, CropResizeMatchesFfmpegWithin40Db) {
  CheckCrops("h264", {3, 47, 88},
             {{20, 10, 100, 80, 64, 48},   // even origin, downscale
              {21, 13, 101, 77, 56, 40},   // odd origin
              {0, 0, 160, 120, 224, 168},  // whole frame, upscale
              {95, 61, 64, 58, 32, 32}});  // odd origin near the corner
}

TEST(ClipDecoderCropTest, OddSizedVp9MatchesFfmpegWithin40Db) {
  CheckCrops("odd", {0, 39}, {{0, 0, 161, 121, 112, 112}, {33, 17, 127, 103, 64, 64}});
}

TEST(ClipDecoderCropTest, RotatedCropsAreInDisplayedCoordinates) {
  // Displayed 120x160 for 90/270, 160x120 for 180; rectangles off-centre so
  // a wrong mapping cannot pass.
  CheckCrops("rot90", {2, 30}, {{10, 20, 96, 128, 48, 64}, {17, 33, 71, 101, 40, 56}});
  CheckCrops("rot270", {5}, {{10, 20, 96, 128, 48, 64}, {0, 0, 120, 160, 60, 80}});
  CheckCrops("rot180", {5}, {{30, 8, 100, 90, 50, 45}});
}

TEST(ClipDecoderCropTest, RejectsCropsOutsideTheFrame) {
  Opened o = OpenOrDie(Video("h264").path);
  ASSERT_NE(o.decoder, nullptr);
  std::vector<uint8_t> out(64 * 64 * 3);
  std::vector<CropResize> crops = {{100, 0, 100, 100, 64, 64}};
  std::vector<FrameTarget> targets = {{0, 0, out.data(), 0}};
  EXPECT_THAT(o.decoder->Decode(targets, crops, DecodeOptions()),
              vmae::testing::StatusIs(absl::StatusCode::kInvalidArgument, "does not fit"));
  std::vector<FrameTarget> bad_frame = {{90, 0, out.data(), 0}};
  crops[0].x = 0;
  EXPECT_THAT(o.decoder->Decode(bad_frame, crops, DecodeOptions()),
              vmae::testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace vmae::video
