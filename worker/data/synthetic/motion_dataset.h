// A generated video classification data set whose classes differ only in
// motion, and optionally in a colour drift that follows the motion (the
// scheme is in motion_scene.h): a check that a video model learns from how
// frames change, not from single frames, with no download.
//
// Layout under out_dir:
//   videos/<class name>/<n>.mp4   n = 0..videos_per_class-1, H.264
//   train.csv, val.csv            the authors' list format, "path label" per
//                                 line, paths relative to out_dir
//   classes.txt                   line k names class k
// Video n of every class shares one scene (see motion_scene.h); the last
// videos of each class go to val.csv, so val scenes never appear in training.
// The same options give byte-identical files on one platform: every random
// number comes from splitmix64 of (seed, n).
#ifndef VMAE_WORKER_DATA_SYNTHETIC_MOTION_DATASET_H_
#define VMAE_WORKER_DATA_SYNTHETIC_MOTION_DATASET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/data/synthetic/parallel_jobs.h"

namespace vmae::synthetic {

struct MotionDatasetOptions {
  // Output folder; created if missing. Existing files of the same names are
  // replaced. Required.
  std::string out_dir;
  // Number of classes K, 2 to 360. Default: 4.
  int classes = 4;
  // Videos per class N, at least 1. Default: 10.
  int videos_per_class = 10;
  // Frames per video, at least 2. Default: 64.
  int frames = 64;
  // Frame size; even, at least 16. Default: 320x240.
  int width = 320;
  int height = 240;
  // Frames per second written in the files. Default: 25.
  double fps = 25;
  // Share of each class's videos that go to val.csv, in [0, 1): round(N * x),
  // but at least 1 when x > 0 and N >= 2, and at most N - 1. Default: 0.2.
  double val_fraction = 0.2;
  // Names the data set: the same seed gives the same files. Default: 0.
  uint64_t seed = 0;
  // Keyframe interval; 16 matches `vmae prepare`, so the set loads fast
  // without a prepare step. Default: 16.
  int gop = 16;
  // Colour drift in gray levels per frame (Motion::tint_rate), at least 0;
  // 0 keeps the classes apart by motion alone. Default: 0.
  double tint_rate = 0;
  // Videos written at once; 0 = one per hardware thread. Default: 0.
  int threads = 0;
  // Called after each video (may be empty). Default: none.
  ProgressFn progress;
};

struct MotionDatasetSummary {
  int train_videos = 0;
  int val_videos = 0;
};

// How many of each class's `videos_per_class` videos go to val.csv.
int ValVideosPerClass(int videos_per_class, double val_fraction);

// Writes the data set. INVALID_ARGUMENT naming the option when one is out of
// range; the first video's error when a video cannot be written (the lists
// are then not written, so a failed run never looks complete).
absl::StatusOr<MotionDatasetSummary> GenerateMotionDataset(const MotionDatasetOptions& options);

}  // namespace vmae::synthetic

#endif  // VMAE_WORKER_DATA_SYNTHETIC_MOTION_DATASET_H_
