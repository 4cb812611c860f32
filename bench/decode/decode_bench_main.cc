// vmae_decode_bench: our clip decoder on the decode benchmark's plans
// (bench/decode/README.md; compare_decode.sh runs it against PyAV).
//
//   vmae_decode_bench plan --data_dir=DIR --workload=k400_pretrain --clips=24 --out=PLAN
//       draws a plan over DIR/*.mp4 (sorted, round robin) with the training
//       code's sampling and crops;
//   vmae_decode_bench run --plan=PLAN --threads=T --out=RESULT
//       times every clip of the plan (T clips at a time) and writes RESULT;
//   vmae_decode_bench dump --plan=PLAN --clip=K --out=RGB
//       writes clip K's output images (packed RGB24) for the PSNR check.
// Not a test: it asserts nothing beyond the decoder's own errors.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/decode/decode_plan.h"
#include "bench/decode/decode_runner.h"
#include "bench/decode/workloads.h"
#include "common/flag_names.h"
#include "common/status_macros.h"
#include "worker/data/video/encoded_video.h"
#include "worker/data/video/video_index.h"

ABSL_FLAG(std::string, data_dir, "", "plan: the folder of .mp4 files to draw clips from.");
ABSL_FLAG(std::string, workload, "k400_pretrain",
          "plan: k400_pretrain, ssv2_pretrain, k400_finetune, ssv2_finetune or test_views.");
ABSL_FLAG(int, clips, 24, "plan: clips in the plan (files are used round robin).");
ABSL_FLAG(uint64_t, seed, 1, "plan: seed of the frame and crop draws.");
ABSL_FLAG(int, size, 224, "plan: output images are size x size.");
ABSL_FLAG(std::string, plan, "", "run, dump: the plan JSON written by `plan`.");
ABSL_FLAG(int, threads, 1, "run: clips decoded at once, one per thread.");
ABSL_FLAG(bool, skip_nonref, true,
          "run, dump: skip non-reference frames that are not kept (false decodes every frame).");
ABSL_FLAG(int, clip, 0, "dump: which clip of the plan.");
ABSL_FLAG(std::string, out, "", "Where to write the plan, the result JSON or the pixels.");

namespace vmae::bench {
namespace {

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, "; check that its folder exists and is writable"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Plan> ReadPlan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read plan ", path, "; write one with `vmae_decode_bench plan`"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return PlanFromJson(text.str(), path);
}

absl::StatusOr<std::string> RequiredFlag(const std::string& value, const char* name) {
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  }
  return value;
}

// Every .mp4 of `dir`, sorted by name, indexed with our index builder.
absl::StatusOr<std::vector<PlanFile>> ScanFiles(const std::string& dir) {
  std::vector<std::string> paths;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".mp4") {
      paths.push_back(entry.path().string());
    }
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat("cannot list --data_dir ", dir, ": ", error.message(),
                                            "; run make_data.sh first"));
  }
  if (paths.empty()) {
    return absl::NotFoundError(
        absl::StrCat("--data_dir ", dir, " has no .mp4 files; run make_data.sh first"));
  }
  std::sort(paths.begin(), paths.end());
  std::vector<PlanFile> files;
  for (const std::string& path : paths) {
    VMAE_ASSIGN_OR_RETURN(video::EncodedVideo encoded, video::ReadEncodedVideo(path));
    absl::StatusOr<video::VideoIndex> index = video::BuildVideoIndex(encoded);
    if (!index.ok()) {
      return absl::Status(index.status().code(),
                          absl::StrCat("indexing ", path, ": ", index.status().message()));
    }
    files.push_back(PlanFile{path, index->frame_count(), index->info.width, index->info.height});
  }
  return files;
}

absl::Status MakePlanCommand() {
  VMAE_ASSIGN_OR_RETURN(const std::string dir,
                        RequiredFlag(absl::GetFlag(FLAGS_data_dir), "data_dir"));
  VMAE_ASSIGN_OR_RETURN(const std::string out, RequiredFlag(absl::GetFlag(FLAGS_out), "out"));
  VMAE_ASSIGN_OR_RETURN(const Workload workload, ParseWorkload(absl::GetFlag(FLAGS_workload)));
  const int clips = absl::GetFlag(FLAGS_clips);
  const int size = absl::GetFlag(FLAGS_size);
  if (clips < 1 || size < 1) {
    return absl::InvalidArgumentError("--clips and --size must be at least 1");
  }
  VMAE_ASSIGN_OR_RETURN(const std::vector<PlanFile> files, ScanFiles(dir));
  return WriteFile(out,
                   PlanToJson(MakePlan(workload, files, clips, absl::GetFlag(FLAGS_seed), size)));
}

RunOptions Options() {
  RunOptions options;
  options.threads = absl::GetFlag(FLAGS_threads);
  options.skip_nonref = absl::GetFlag(FLAGS_skip_nonref);
  return options;
}

absl::Status RunCommand() {
  VMAE_ASSIGN_OR_RETURN(const std::string plan_path,
                        RequiredFlag(absl::GetFlag(FLAGS_plan), "plan"));
  VMAE_ASSIGN_OR_RETURN(const std::string out, RequiredFlag(absl::GetFlag(FLAGS_out), "out"));
  VMAE_ASSIGN_OR_RETURN(const Plan plan, ReadPlan(plan_path));
  VMAE_ASSIGN_OR_RETURN(const RunResult result, RunOurs(plan, Options()));
  return WriteFile(out, RunResultToJson(plan, Options(), result));
}

absl::Status DumpCommand() {
  VMAE_ASSIGN_OR_RETURN(const std::string plan_path,
                        RequiredFlag(absl::GetFlag(FLAGS_plan), "plan"));
  VMAE_ASSIGN_OR_RETURN(const std::string out, RequiredFlag(absl::GetFlag(FLAGS_out), "out"));
  VMAE_ASSIGN_OR_RETURN(const Plan plan, ReadPlan(plan_path));
  VMAE_ASSIGN_OR_RETURN(const std::vector<uint8_t> pixels,
                        DecodeClipPixels(plan, absl::GetFlag(FLAGS_clip), Options()));
  return WriteFile(out, std::string(pixels.begin(), pixels.end()));
}

}  // namespace
}  // namespace vmae::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "vmae_decode_bench plan|run|dump [flags]; see bench/decode/README.md");
  vmae::DashesToUnderscoresInFlagNames(argc, argv);
  const std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() == 2 ? args[1] : "";
  absl::Status status;
  if (command == "plan") {
    status = vmae::bench::MakePlanCommand();
  } else if (command == "run") {
    status = vmae::bench::RunCommand();
  } else if (command == "dump") {
    status = vmae::bench::DumpCommand();
  } else {
    status = absl::InvalidArgumentError(
        "give one command: plan, run or dump (see --help or bench/decode/README.md)");
  }
  if (!status.ok()) {
    std::fprintf(stderr, "vmae_decode_bench %s: %s\n", command.c_str(), status.ToString().c_str());
    return 1;
  }
  return 0;
}
