// vmae: the engine's command line (LibTorch side). The agent launches
// `vmae train` per rank; users run the other verbs on one machine.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "worker/cpu/allocator_settings.h"
#include "worker/cpu/openblas_kernels.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"

namespace {

struct Verb {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* help;
  // Runs the model, so worth the restart that picks fitting BLAS kernels
  // (about 1 s: LibTorch loads twice); the other verbs only move bytes.
  bool runs_model;
};

constexpr Verb kVerbs[] = {
    {"inspect", vmae::tool::RunInspect,
     "format, architecture, parameter count and step of a checkpoint", false},
    {"convert", vmae::tool::RunConvert, "convert a checkpoint to native or Hugging Face format",
     false},
    {"reconstruct", vmae::tool::RunReconstruct, "pre-training model: reconstruct masked tokens",
     true},
    {"predict", vmae::tool::RunPredict, "fine-tuned model: classify clips", true},
    {"bench", vmae::tool::RunBench, "train-step speed (clips/s, TFLOP/s) on synthetic input", true},
    {"datagen", vmae::tool::RunDatagen,
     "write a synthetic data set whose classes differ only in motion", false},
    {"prepare", vmae::tool::RunPrepare, "re-encode a data list's videos for fast loading", false},
    {"preview", vmae::tool::RunPreview, "PNGs of a sample's clips as the model sees them", false},
    {"train", vmae::tool::RunTrain, "run one rank of a training job (started by vmae-worker)",
     true},
};

// Before the model runs: OpenBLAS chooses its kernels while it loads.
void PrepareToRunModel(char** argv) {
  vmae::cpu::RestartWithFittingOpenBlasKernels(argv);
  vmae::cpu::KeepFreedMemoryForReuse();
}

void PrintUsage(FILE* out) {
  std::fprintf(out, "Usage: vmae VERB [flags]   (vmae VERB --help for a verb's flags)\n\nVerbs:\n");
  for (const Verb& verb : kVerbs) std::fprintf(out, "  %-12s %s\n", verb.name, verb.help);
  std::fprintf(out, "  %-12s %s\n\n%s", "version", "print the version", vmae::tool::kExitCodeHelp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintUsage(argc < 2 ? stderr : stdout);
    return argc < 2 ? vmae::tool::kExitUsage : vmae::tool::kExitOk;
  }
  const std::string verb = argv[1];
  if (verb == "version" || verb == "--version") {
    PrepareToRunModel(argv);  // so that it reports the kernels the model verbs run
    std::printf("vmae %s\n%s\n", VMAE_VERSION, vmae::cpu::DescribeBlas().c_str());
    return vmae::tool::kExitOk;
  }
  const std::vector<std::string> args(argv + 2, argv + argc);
  for (const Verb& v : kVerbs) {
    if (verb != v.name) continue;
    if (v.runs_model) PrepareToRunModel(argv);
    return v.run(args);
  }
  std::fprintf(stderr, "vmae: unknown verb '%s'; run `vmae --help` for the list\n", verb.c_str());
  return vmae::tool::kExitUsage;
}
