// The loader end to end over small generated videos: determinism across
// thread counts and restarts, pixel values against the ffmpeg command line,
// and the bad-data rules.
#include "worker/data/loader/clip_loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"
#include "worker/data/bad_sample.h"

namespace vmae::data {
namespace {

using vmae::testing::RunCommand;
using vmae::testing::TempDir;

constexpr int kWidth = 96;
constexpr int kHeight = 64;

// `frames` frames of a moving test pattern, H.264 with B-frames.
void MakeVideo(const std::string& path, int frames, int pattern) {
  std::string out;
  const std::vector<std::string> argv = {
      "ffmpeg",
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      absl::StrCat("testsrc2=size=", kWidth, "x", kHeight, ":rate=25,hue=h=", pattern * 37),
      "-frames:v",
      std::to_string(frames),
      "-c:v",
      "libx264",
      "-g",
      "12",
      "-pix_fmt",
      "yuv420p",
      path};
  ASSERT_EQ(RunCommand(argv, &out), 0) << out;
}

class ClipLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    for (int i = 0; i < kVideos; ++i) MakeVideo(Path(i), 30 + i, i);
    MakeVideo(dir_->File("short.mp4"), 10, 0);
    vmae::testing::WriteFile(dir_->File("not_video.mp4"), std::string(4096, 'x'));
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string Path(int i) { return dir_->File(absl::StrCat("v", i, ".mp4")); }

  static std::vector<ManifestEntry> Entries(int n) {
    std::vector<ManifestEntry> entries;
    for (int i = 0; i < n; ++i) entries.push_back(ManifestEntry{Path(i % kVideos), i % 5, i + 1});
    return entries;
  }

  static ClipRecipe SmallPretrain() {
    ClipRecipe recipe;
    recipe.mode = ClipMode::kPretrain;
    recipe.sampling = Sampling::kStride;
    recipe.num_frames = 4;
    recipe.sampling_rate = 2;
    recipe.image_size = 32;
    recipe.repeated_aug = 2;
    recipe.seed = 7;
    return recipe;
  }

  // Every batch of one epoch, as flat floats plus the sample order.
  static std::vector<std::vector<float>> Epoch(ClipLoader& loader, uint64_t epoch, int64_t cursor,
                                               std::vector<int64_t>* samples) {
    loader.StartEpoch(epoch, cursor);
    std::vector<std::vector<float>> batches;
    while (true) {
      absl::StatusOr<std::optional<HostBatch>> batch = loader.Next();
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok() || !batch->has_value()) break;
      const HostBatch& b = **batch;
      const size_t floats = static_cast<size_t>(b.num_clips) * 3 * 4 * 32 * 32;
      batches.emplace_back(b.clips.get(), b.clips.get() + floats);
      samples->insert(samples->end(), b.samples.begin(), b.samples.end());
    }
    return batches;
  }

  static constexpr int kVideos = 8;
  static TempDir* dir_;
};

TempDir* ClipLoaderTest::dir_ = nullptr;

TEST_F(ClipLoaderTest, BatchesDoNotDependOnThreadCount) {
  std::vector<std::vector<float>> by_threads[2];
  std::vector<int64_t> samples[2];
  const int threads[2] = {1, 4};
  for (int i = 0; i < 2; ++i) {
    LoaderOptions options;
    options.recipe = SmallPretrain();
    options.slice = {3, 1, 0};
    options.decode_threads = threads[i];
    auto loader = ClipLoader::Create(Entries(10), options);
    ASSERT_TRUE(loader.ok()) << loader.status();
    by_threads[i] = Epoch(**loader, 1, 0, &samples[i]);
  }
  ASSERT_EQ(by_threads[0].size(), 3u);  // 10 samples, batch 3: 3 full steps
  EXPECT_EQ(samples[0], samples[1]);
  for (size_t b = 0; b < 3; ++b) {
    ASSERT_EQ(by_threads[0][b].size(), by_threads[1][b].size());
    EXPECT_EQ(std::memcmp(by_threads[0][b].data(), by_threads[1][b].data(),
                          by_threads[0][b].size() * sizeof(float)),
              0)
        << "batch " << b;
  }
  // Repeated augmentation: the two views of a sample share frames but not
  // crops, so they differ.
  const size_t clip = 3 * 4 * 32 * 32;
  EXPECT_NE(
      std::memcmp(by_threads[0][0].data(), by_threads[0][0].data() + clip, clip * sizeof(float)),
      0);
}

TEST_F(ClipLoaderTest, ResumingFromACursorGivesTheRemainingBatches) {
  LoaderOptions options;
  options.recipe = SmallPretrain();
  options.slice = {2, 1, 0};
  options.decode_threads = 2;
  auto loader = ClipLoader::Create(Entries(9), options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  std::vector<int64_t> all_samples, tail_samples;
  const auto all = Epoch(**loader, 3, 0, &all_samples);
  const auto tail = Epoch(**loader, 3, 4, &tail_samples);  // after 2 steps
  ASSERT_EQ(all.size(), 4u);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[0], all[2]);
  EXPECT_EQ(tail[1], all[3]);
  // Each epoch's permutation covers the list: 4 steps of 2 = 8 distinct samples.
  EXPECT_EQ(std::set<int64_t>(all_samples.begin(), all_samples.end()).size(), 8u);
}

TEST_F(ClipLoaderTest, ValidationClipMatchesFfmpegCropAndScale) {
  // A 10-frame video with 4 frames at stride 4 is too short for a random
  // start: the authors' sampler takes frames 0, 4, 8 and repeats 8.
  LoaderOptions options;
  options.recipe = SmallPretrain();
  options.recipe.mode = ClipMode::kValidate;
  options.recipe.sampling_rate = 4;
  options.slice = {1, 1, 0};
  options.shuffle = false;
  auto loader = ClipLoader::Create({ManifestEntry{dir_->File("short.mp4"), 3, 1}}, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  (*loader)->StartEpoch(0);
  absl::StatusOr<std::optional<HostBatch>> batch = (*loader)->Next();
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(batch->has_value());
  EXPECT_THAT((*batch)->labels, ::testing::ElementsAre(3));

  // The reference: ffmpeg's own decode, centre square of the short side
  // (64x64 at x=16), bilinear scale to 32x32, normalised with ImageNet's
  // mean and std.
  const float mean[3] = {0.485f, 0.456f, 0.406f};
  const float stdev[3] = {0.229f, 0.224f, 0.225f};
  const int frames[4] = {0, 4, 8, 8};
  double squared_error = 0;
  for (int t = 0; t < 4; ++t) {
    const std::string raw = dir_->File(absl::StrCat("ref", t, ".rgb"));
    std::string out;
    ASSERT_EQ(RunCommand(
                  {"ffmpeg", "-v", "error", "-y", "-i", dir_->File("short.mp4"), "-vf",
                   absl::StrCat(
                       "select=eq(n\\,", frames[t],
                       "),crop=64:64:16:0,scale=32:32:flags=bilinear+accurate_rnd+full_chroma_int"),
                   "-fps_mode", "passthrough", "-frames:v", "1", "-pix_fmt", "rgb24", "-f",
                   "rawvideo", raw},
                  &out),
              0)
        << out;
    const std::string rgb = vmae::testing::ReadFileOrDie(raw);
    ASSERT_EQ(rgb.size(), 32u * 32 * 3);
    for (int c = 0; c < 3; ++c) {
      for (int p = 0; p < 32 * 32; ++p) {
        const float expected = (static_cast<uint8_t>(rgb[p * 3 + c]) / 255.0f - mean[c]) / stdev[c];
        const float got = (*batch)->clips.get()[(c * 4 + t) * 32 * 32 + p];
        const double error = (got - expected) * stdev[c] * 255.0;  // back in 8-bit units
        squared_error += error * error;
      }
    }
  }
  const double mse = squared_error / (4.0 * 3 * 32 * 32);
  const double psnr = 10 * std::log10(255.0 * 255.0 / std::max(mse, 1e-12));
  EXPECT_GT(psnr, 40.0) << "mse " << mse;
}

TEST_F(ClipLoaderTest, BadSampleIsSkippedCountedAndReplacedByTheNextEntry) {
  // 9 entries, batch 4: 2 full steps (8 samples) and one spare. One entry is
  // not a video: its rank takes the next entry, so all 8 good samples are
  // delivered, each once.
  std::vector<ManifestEntry> entries = Entries(9);
  entries[5].path = dir_->File("not_video.mp4");
  LoaderOptions options;
  options.recipe = SmallPretrain();
  options.slice = {4, 1, 0};
  options.decode_threads = 3;
  options.max_bad_fraction = 0.2;
  auto loader = ClipLoader::Create(entries, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  std::vector<int64_t> samples;
  const auto batches = Epoch(**loader, 0, 0, &samples);
  ASSERT_EQ(batches.size(), 2u);
  std::set<int64_t> seen;
  for (size_t i = 0; i < samples.size(); i += 2) seen.insert(samples[i]);  // 2 views each
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4, 6, 7, 8}));
  const DataErrorCounts errors = (*loader)->errors();
  EXPECT_EQ(errors.distinct_samples, 1);
  EXPECT_EQ(errors.by_kind[static_cast<size_t>(BadSampleKind::kNotVideo)], 1);
}

TEST_F(ClipLoaderTest, MissingFileIsCountedAsMissing) {
  std::vector<ManifestEntry> entries = Entries(4);
  entries[2].path = dir_->File("nowhere.mp4");
  LoaderOptions options;
  options.recipe = SmallPretrain();
  options.slice = {1, 1, 0};
  options.max_bad_fraction = 0.5;
  auto loader = ClipLoader::Create(entries, options);
  ASSERT_TRUE(loader.ok()) << loader.status();
  std::vector<int64_t> samples;
  Epoch(**loader, 0, 0, &samples);
  EXPECT_EQ((*loader)->errors().by_kind[static_cast<size_t>(BadSampleKind::kMissing)], 1);
  EXPECT_EQ(std::count(samples.begin(), samples.end(), 2), 0);
}

TEST_F(ClipLoaderTest, TooManyBadSamplesFailWithAClearReason) {
  std::vector<ManifestEntry> entries = Entries(10);
  for (int i = 0; i < 10; i += 2) entries[i].path = dir_->File("not_video.mp4");
  LoaderOptions options;
  options.recipe = SmallPretrain();
  options.slice = {2, 1, 0};
  options.decode_threads = 2;
  auto loader = ClipLoader::Create(entries, options);  // default limit 1%
  ASSERT_TRUE(loader.ok()) << loader.status();
  (*loader)->StartEpoch(0);
  absl::Status failure;
  for (int step = 0; step < 5 && failure.ok(); ++step) {
    absl::StatusOr<std::optional<HostBatch>> batch = (*loader)->Next();
    if (!batch.ok()) failure = batch.status();
  }
  EXPECT_EQ(failure.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(failure.message()),
              ::testing::AllOf(::testing::HasSubstr("data.max_bad_fraction"),
                               ::testing::HasSubstr("not_video")));
}

}  // namespace
}  // namespace vmae::data
