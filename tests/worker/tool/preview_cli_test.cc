// `vmae preview` end to end: a generated data set, a job file, the real
// binary; the PNGs are read back with the ffmpeg command line and the mask
// overlay is checked against the tube-mask rule (int(0.9 x 196) = 176 of the
// 196 patches of every frame hidden, the same ones in every frame).
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/coordinator_process.h"
#include "tests/testing/temp_dir.h"

namespace vmae::tool {
namespace {

using ::testing::HasSubstr;
using vmae::testing::BinaryPath;
using vmae::testing::RunCommand;
using vmae::testing::TempDir;

int Vmae(std::vector<std::string> args, std::string* out) {
  args.insert(args.begin(), BinaryPath("vmae"));
  return RunCommand(args, out, {}, 120);
}

// RGB24 bytes of a 224x224 PNG, decoded by ffmpeg.
std::string ReadPng(const TempDir& dir, const std::string& png) {
  const std::string raw = dir.File("frame.rgb");
  std::string out;
  EXPECT_EQ(RunCommand({"ffmpeg", "-v", "error", "-y", "-i", png, "-f", "rawvideo", "-pix_fmt",
                        "rgb24", raw},
                       &out),
            0)
      << out;
  return vmae::testing::ReadFileOrDie(raw);
}

// Patches (16x16, row-major over the 14x14 grid) whose every pixel is the
// original blended three quarters of the way to grey 128.
std::set<int> GreyedPatches(const std::string& original, const std::string& masked) {
  std::set<int> greyed;
  for (int py = 0; py < 14; ++py) {
    for (int px = 0; px < 14; ++px) {
      bool all = true;
      for (int y = py * 16; y < py * 16 + 16 && all; ++y) {
        for (int x = px * 16; x < px * 16 + 16 && all; ++x) {
          for (int c = 0; c < 3; ++c) {
            const size_t i = (static_cast<size_t>(y) * 224 + x) * 3 + c;
            const double expected = static_cast<uint8_t>(original[i]) * 0.25 + 96.0;
            if (std::abs(static_cast<uint8_t>(masked[i]) - expected) > 0.5) all = false;
          }
        }
      }
      if (all) greyed.insert(py * 14 + px);
    }
  }
  return greyed;
}

class PreviewCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(Vmae({"datagen", "--out", dir_.File("ds"), "--classes", "2", "--videos-per-class",
                    "2", "--frames", "40", "--size", "96x64"},
                   &out),
              0)
        << out;
    vmae::testing::WriteFile(dir_.File("job.yaml"),
                             absl::StrCat("kind: pretrain\nname: preview\nmodel:\n  arch: "
                                          "vit_small\ndata:\n  root: ",
                                          dir_.File("ds"),
                                          "\n  train: train.csv\nresources:\n  workers: 1\n"
                                          "  device: cpu\n"));
  }
  TempDir dir_;
};

TEST_F(PreviewCliTest, WritesEveryFrameAndTheTubeMaskTrainingUses) {
  std::string out;
  ASSERT_EQ(Vmae({"preview", "--config", dir_.File("job.yaml"), "--index", "1", "--out",
                  dir_.File("png")},
                 &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("wrote 32 PNGs of entry 1"));  // 16 frames, plain and masked
  std::set<int> first;
  for (int t : {0, 1, 7, 15}) {
    const std::string stem = absl::StrCat(dir_.File("png"), "/view00_frame", t < 10 ? "0" : "", t);
    const std::string original = ReadPng(dir_, stem + ".png");
    const std::string masked = ReadPng(dir_, stem + "_masked.png");
    ASSERT_EQ(original.size(), 224u * 224 * 3);
    ASSERT_EQ(masked.size(), original.size());
    const std::set<int> greyed = GreyedPatches(original, masked);
    EXPECT_EQ(greyed.size(), 176u) << "frame " << t;
    if (t == 0) first = greyed;
    EXPECT_EQ(greyed, first) << "a tube mask hides the same patches in every frame";
  }
}

TEST_F(PreviewCliTest, IndexOutsideTheListIsAUsageError) {
  std::string out;
  EXPECT_EQ(Vmae({"preview", "--config", dir_.File("job.yaml"), "--index", "2", "--out",
                  dir_.File("png")},
                 &out),
            2);
  // 2 classes x 2 videos: one of each class goes to val.
  EXPECT_THAT(out, HasSubstr("--index=2: train.csv has 2 entries (0 to 1)"));
}

TEST_F(PreviewCliTest, MissingConfigIsNotFound) {
  std::string out;
  EXPECT_EQ(Vmae({"preview", "--config", dir_.File("nope.yaml"), "--out", dir_.File("png")}, &out),
            5);
  EXPECT_THAT(out, HasSubstr("nope.yaml"));
}

}  // namespace
}  // namespace vmae::tool
