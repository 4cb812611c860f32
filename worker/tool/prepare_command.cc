// `vmae prepare`: re-encodes a data list's videos for fast loading
// (worker/data/synthetic/prepare_dataset.h).
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/synthetic/parallel_jobs.h"
#include "worker/data/synthetic/prepare_dataset.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"
#include "worker/tool/run_verb.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"in", false, "the data list (\"path label\" lines, or CSV \"path,label\"); required"},
      {"out", false, "folder for the re-encoded videos and the list; required"},
      {"root", false, "folder the list's paths are relative to (default: the list's folder)"},
      {"short-side", false, "shorter side in pixels, even; 0 keeps the size (default 320)"},
      {"gop", false, "keyframe interval in frames (default 16)"},
      {"crf", false, "x264 quality, 0 (lossless) to 51 (default 23)"},
      {"threads", false, "videos re-encoded at once (default: one per core)"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae prepare --in LIST --out DIR [flags]\n"
    "Re-encodes every video of LIST to H.264 with a smaller short side and a\n"
    "keyframe every --gop frames, so a clip decodes from a near keyframe.\n"
    "Keeps every frame (the count never changes) and each relative path, and\n"
    "writes DIR/<LIST's name> with the videos that succeeded. Videos that fail\n"
    "are reported on stderr, counted and left out. Running it again skips\n"
    "outputs newer than their input, so an interrupted run resumes.\n";

absl::Status Prepare(const ParsedFlags& flags) {
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", flags.positional()[0],
                                                   "'; prepare takes flags only (see --help)"));
  }
  std::string in_list, out_dir;
  VMAE_ASSIGN_OR_RETURN(in_list, flags.Require("in"));
  VMAE_ASSIGN_OR_RETURN(out_dir, flags.Require("out"));
  std::string root = flags.Get("root");
  if (root.empty()) {
    root = std::filesystem::path(in_list).parent_path().string();
    if (root.empty()) root = ".";
  }
  synthetic::ReencodeOptions options;
  VMAE_ASSIGN_OR_RETURN(options.short_side,
                        flags.GetIntInRange("short-side", 320, 0, 8192, "0 (keep) or 2 to 8192"));
  if (options.short_side % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--short-side=", options.short_side,
                                                   " is odd; H.264 4:2:0 needs an even size"));
  }
  VMAE_ASSIGN_OR_RETURN(options.gop, flags.GetIntInRange("gop", 16, 1, 100000, "1 or more frames"));
  VMAE_ASSIGN_OR_RETURN(options.crf, flags.GetIntInRange("crf", 23, 0, 51, "0 to 51"));
  int threads = 0;
  VMAE_ASSIGN_OR_RETURN(threads,
                        flags.GetIntInRange("threads", 0, 0, 1024, "0 (all cores) to 1024"));

  synthetic::PrepareSummary s;
  VMAE_ASSIGN_OR_RETURN(s, synthetic::PrepareDataset(in_list, root, out_dir, options, threads,
                                                     synthetic::TerminalProgress("vmae prepare")));
  for (const std::string& failure : s.failures) {
    std::fprintf(stderr, "vmae prepare: skipped %s\n", failure.c_str());
  }
  std::printf("prepared %d of %d videos into %s (%d re-encoded, %d already up to date)",
              s.reencoded + s.up_to_date, s.listed, out_dir.c_str(), s.reencoded, s.up_to_date);
  if (s.failed > 0) {
    std::printf("; %d failed (see above) and left out of %s", s.failed, s.out_list.c_str());
  }
  std::printf("\n");
  return absl::OkStatus();
}

}  // namespace

int RunPrepare(const std::vector<std::string>& args) {
  ffmpeg::QuietFfmpegLog();
  // The exit codes in the verb's own --help too, as `vmae --help` has them.
  static const std::string* usage = new std::string(absl::StrCat(kUsage, "\n", kExitCodeHelp));
  return RunVerb("prepare", usage->c_str(), Flags(), args, Prepare);
}

}  // namespace vmae::tool
