// `vmae datagen`: writes the motion-only synthetic data set
// (worker/data/synthetic/motion_dataset.h).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/synthetic/motion_dataset.h"
#include "worker/data/synthetic/parallel_jobs.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"
#include "worker/tool/run_verb.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"out", false, "folder to write the data set to (created if missing); required"},
      {"classes", false, "number of classes K, 2 to 360; required"},
      {"videos-per-class", false, "videos per class N, 1 or more; required"},
      {"frames", false, "frames per video, 2 or more (default 64)"},
      {"size", false, "frame size WxH, even, 16 or more each (default 320x240)"},
      {"fps", false, "frame rate written in the files (default 25)"},
      {"seed", false, "the same seed gives the same files (default 0)"},
      {"gop", false, "keyframe interval in frames (default 16)"},
      {"val-fraction", false, "share of each class's videos in val.csv, 0 to <1 (default 0.2)"},
      {"tint-rate", false,
       "colour drift in gray levels per frame along the class's angle, 0 to 64; 0 = motion "
       "only (default 0)"},
      {"threads", false, "videos written at once (default: one per core)"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae datagen --out DIR --classes K --videos-per-class N [flags]\n"
    "Writes a video data set whose classes differ only in how the frames change:\n"
    "every class shows the same scenes (a texture and 100-140 bright dots);\n"
    "class k moves the dots along angle 360*k/K degrees, one way (first half of\n"
    "the classes) or back and forth (the rest). --tint-rate adds a colour drift\n"
    "along the same angle and pattern, a cue small models learn in minutes.\n"
    "Writes DIR/videos/<class>/<n>.mp4, DIR/train.csv and DIR/val.csv (\"path\n"
    "label\" lines, paths relative to DIR) and DIR/classes.txt.\n";

// "320x240" -> (320, 240); both even and at least 16.
absl::Status ParseSize(const std::string& text, int* width, int* height) {
  const std::vector<std::string> parts = absl::StrSplit(text, 'x');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], width) ||
      !absl::SimpleAtoi(parts[1], height)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--size=", text, " is not WxH; give e.g. --size 320x240"));
  }
  if (*width < 16 || *height < 16 || *width > 8192 || *height > 8192 || *width % 2 != 0 ||
      *height % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--size=", text, " is not allowed; H.264 4:2:0 needs even sizes, 16 to 8192 each"));
  }
  return absl::OkStatus();
}

// Creates `dir` and checks that files can be made in it, so a typo fails
// before any video is rendered.
absl::Status CheckWritableDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || access(dir.c_str(), W_OK | X_OK) != 0) {
    // A flag to change, like any other bad value: a usage error.
    return absl::InvalidArgumentError(absl::StrCat("--out=", dir, " is not a writable folder",
                                                   ec ? ": " + ec.message() : std::string(),
                                                   "; choose a folder you can write to"));
  }
  return absl::OkStatus();
}

absl::Status Datagen(const ParsedFlags& flags) {
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", flags.positional()[0],
                                                   "'; datagen takes flags only (see --help)"));
  }
  synthetic::MotionDatasetOptions o;
  VMAE_ASSIGN_OR_RETURN(o.out_dir, flags.Require("out"));
  VMAE_RETURN_IF_ERROR(flags.Require("classes").status());
  VMAE_RETURN_IF_ERROR(flags.Require("videos-per-class").status());
  VMAE_ASSIGN_OR_RETURN(o.classes, flags.GetIntInRange("classes", 0, 2, 360, "2 to 360 classes"));
  VMAE_ASSIGN_OR_RETURN(o.videos_per_class,
                        flags.GetIntInRange("videos-per-class", 0, 1, 1000000, "1 or more"));
  VMAE_ASSIGN_OR_RETURN(o.frames, flags.GetIntInRange("frames", 64, 2, 100000, "2 or more frames"));
  VMAE_ASSIGN_OR_RETURN(o.gop, flags.GetIntInRange("gop", 16, 1, 100000, "1 or more frames"));
  VMAE_ASSIGN_OR_RETURN(o.threads,
                        flags.GetIntInRange("threads", 0, 0, 1024, "0 (all cores) to 1024"));
  VMAE_RETURN_IF_ERROR(ParseSize(flags.Get("size", "320x240"), &o.width, &o.height));
  VMAE_ASSIGN_OR_RETURN(o.fps, flags.GetDouble("fps", 25));
  if (!(o.fps > 0 && o.fps <= 1000)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--fps=", flags.Get("fps"), " is out of range; give a rate above 0 up to 1000"));
  }
  VMAE_ASSIGN_OR_RETURN(o.val_fraction, flags.GetDouble("val-fraction", 0.2));
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("--val-fraction=", flags.Get("val-fraction"),
                                                   " is out of range; give 0 up to (not incl.) 1"));
  }
  VMAE_ASSIGN_OR_RETURN(o.tint_rate, flags.GetDouble("tint-rate", 0));
  if (!(o.tint_rate >= 0 && o.tint_rate <= 64)) {
    return absl::InvalidArgumentError(absl::StrCat("--tint-rate=", flags.Get("tint-rate"),
                                                   " is out of range; give 0 (motion only) to 64"));
  }
  const std::string seed = flags.Get("seed", "0");
  if (!absl::SimpleAtoi(seed, &o.seed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--seed=", seed, " is not a non-negative integer; give e.g. --seed 1"));
  }
  VMAE_RETURN_IF_ERROR(CheckWritableDir(o.out_dir));
  o.progress = synthetic::TerminalProgress("vmae datagen");
  synthetic::MotionDatasetSummary summary;
  VMAE_ASSIGN_OR_RETURN(summary, synthetic::GenerateMotionDataset(o));
  std::printf("wrote %d videos (%d train, %d val) to %s\n",
              summary.train_videos + summary.val_videos, summary.train_videos, summary.val_videos,
              o.out_dir.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunDatagen(const std::vector<std::string>& args) {
  ffmpeg::QuietFfmpegLog();
  // The exit codes in the verb's own --help too, as `vmae --help` has them.
  static const std::string* usage = new std::string(absl::StrCat(kUsage, "\n", kExitCodeHelp));
  return RunVerb("datagen", usage->c_str(), Flags(), args, Datagen);
}

}  // namespace vmae::tool
