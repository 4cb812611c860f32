#include "worker/data/synthetic/motion_dataset.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/atomic_file.h"
#include "common/status_macros.h"
#include "worker/data/synthetic/motion_scene.h"
#include "worker/data/synthetic/splitmix.h"
#include "worker/data/synthetic/video_writer.h"

namespace vmae::synthetic {
namespace {

absl::Status Validate(const MotionDatasetOptions& o) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  if (o.out_dir.empty()) return bad("out_dir is empty; give the folder to write the data set to");
  if (o.classes < 2 || o.classes > 360) {
    return bad(absl::StrCat("classes ", o.classes, " is out of range; give 2 to 360"));
  }
  if (o.videos_per_class < 1) {
    return bad(
        absl::StrCat("videos_per_class ", o.videos_per_class, " is out of range; give 1 or more"));
  }
  if (o.frames < 2) {
    return bad(absl::StrCat("frames ", o.frames, " is too few to show motion; give 2 or more"));
  }
  if (o.width < 16 || o.height < 16 || o.width % 2 != 0 || o.height % 2 != 0) {
    return bad(absl::StrCat("size ", o.width, "x", o.height,
                            " is not allowed; give even width and height of 16 or more"));
  }
  if (!(o.fps > 0) || !std::isfinite(o.fps)) {
    return bad(absl::StrCat("fps ", o.fps, " is not allowed; give a frame rate above 0"));
  }
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) {
    return bad(
        absl::StrCat("val_fraction ", o.val_fraction, " is out of range; give 0 to below 1"));
  }
  if (o.gop < 1) return bad(absl::StrCat("gop ", o.gop, " is out of range; give 1 or more"));
  if (!(o.tint_rate >= 0 && o.tint_rate <= 64)) {
    return bad(absl::StrCat("tint_rate ", o.tint_rate,
                            " is out of range; give 0 (motion only) to 64 gray levels per frame"));
  }
  return absl::OkStatus();
}

std::string RelativeVideoPath(int k, int n, int classes) {
  return absl::StrCat("videos/", ClassName(k, classes), "/", n, ".mp4");
}

absl::Status WriteVideo(const MotionDatasetOptions& o, int k, int n) {
  const Scene scene = MakeScene(MixSeed(o.seed, static_cast<uint64_t>(n)), o.width, o.height);
  const Motion motion = ClassMotion(k, o.classes, o.tint_rate);
  EncodeOptions encode;
  encode.gop = o.gop;
  const std::string path = absl::StrCat(o.out_dir, "/", RelativeVideoPath(k, n, o.classes));
  std::unique_ptr<VideoWriter> writer;
  VMAE_ASSIGN_OR_RETURN(writer, VideoWriter::Open(path, o.width, o.height, o.fps, encode));
  std::vector<uint8_t> rgb;
  for (int t = 0; t < o.frames; ++t) {
    RenderFrame(scene, motion, t, &rgb);
    VMAE_RETURN_IF_ERROR(writer->WriteRgb(rgb.data(), o.width * 3));
  }
  return writer->Finish();
}

}  // namespace

int ValVideosPerClass(int videos_per_class, double val_fraction) {
  if (videos_per_class < 2 || val_fraction <= 0) return 0;
  const int n = static_cast<int>(std::lround(videos_per_class * val_fraction));
  return std::clamp(n, 1, videos_per_class - 1);
}

absl::StatusOr<MotionDatasetSummary> GenerateMotionDataset(const MotionDatasetOptions& o) {
  VMAE_RETURN_IF_ERROR(Validate(o));
  std::error_code ec;
  for (int k = 0; k < o.classes; ++k) {
    const std::string dir = absl::StrCat(o.out_dir, "/videos/", ClassName(k, o.classes));
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create folder ", dir, ": ", ec.message(),
                       "; check that the output folder is writable"));
    }
  }

  const int total = o.classes * o.videos_per_class;
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  absl::Status first_error;  // guarded by error_mu
  RunParallel(
      total, o.threads,
      [&](int i) {
        if (failed) return;  // stop soon after the first failure
        const absl::Status s = WriteVideo(o, i / o.videos_per_class, i % o.videos_per_class);
        if (s.ok()) return;
        std::lock_guard<std::mutex> lock(error_mu);
        if (!failed.exchange(true)) first_error = s;
      },
      o.progress);
  if (failed) return first_error;

  const int val_per_class = ValVideosPerClass(o.videos_per_class, o.val_fraction);
  const int train_per_class = o.videos_per_class - val_per_class;
  std::string train, val, names;
  for (int k = 0; k < o.classes; ++k) {
    absl::StrAppend(&names, ClassName(k, o.classes), "\n");
    for (int n = 0; n < o.videos_per_class; ++n) {
      absl::StrAppend(n < train_per_class ? &train : &val, RelativeVideoPath(k, n, o.classes), " ",
                      k, "\n");
    }
  }
  const auto write = [&o](const char* name, const std::string& text) -> absl::Status {
    const absl::Status s = checkpoint::WriteFileAtomically(o.out_dir + "/" + name, text);
    if (s.ok()) return s;
    return absl::Status(
        s.code(), absl::StrCat("cannot write ", name, ": ", s.message(), "; check that ", o.out_dir,
                               " is writable and has free space"));
  };
  VMAE_RETURN_IF_ERROR(write("classes.txt", names));
  VMAE_RETURN_IF_ERROR(write("val.csv", val));
  VMAE_RETURN_IF_ERROR(write("train.csv", train));
  return MotionDatasetSummary{train_per_class * o.classes, val_per_class * o.classes};
}

}  // namespace vmae::synthetic
