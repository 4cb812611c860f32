// `vmae convert IN OUT --to native|hf`: between our native checkpoints, the
// authors' .pth files and Hugging Face `transformers` directories.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/checkpoint/checkpoint_convert.h"
#include "worker/checkpoint/checkpoint_loader.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"to", false, "native or hf (required)"},
      {"num-heads", false, "hf: encoder heads when the source does not say (standard widths known)"},
      {"decoder-num-heads", false, "hf: decoder heads, likewise"},
      {"num-frames", false, "hf: clip length for config.json (default: the source's, else 16)"},
      {"image-size", false, "hf: input side for config.json (default: the source's, else 224)"},
      {"labels", false, "hf: file with one class name per line, for id2label"},
      {"normalize-target", true, "hf: norm_pix_loss of a pre-training config (default true)"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae convert IN OUT --to native|hf [flags]\n"
    "IN: a native checkpoint, a Hugging Face directory or an authors' .pth.\n"
    "OUT: a directory, written all or nothing (model.safetensors + manifest.json\n"
    "for native; model.safetensors + config.json, loadable by transformers, for hf).\n";

absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --labels '", path, "'"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

absl::Status Convert(const ParsedFlags& flags) {
  if (flags.positional().size() != 2) {
    return absl::InvalidArgumentError("expected IN and OUT arguments (see --help)");
  }
  const std::string& in = flags.positional()[0];
  const std::string& out = flags.positional()[1];
  std::string to;
  VMAE_ASSIGN_OR_RETURN(to, flags.Require("to"));
  if (to != "native" && to != "hf") {
    return absl::InvalidArgumentError(absl::StrCat("--to ", to, ": expected native or hf"));
  }
  checkpoint::LoadedCheckpoint loaded;
  VMAE_ASSIGN_OR_RETURN(loaded, checkpoint::LoadCheckpoint(in));
  if (to == "native") {
    VMAE_RETURN_IF_ERROR(checkpoint::WriteNativeCheckpoint(loaded, out));
  } else {
    checkpoint::HfExportSettings settings;
    VMAE_ASSIGN_OR_RETURN(settings.num_heads, flags.GetInt("num-heads", 0));
    VMAE_ASSIGN_OR_RETURN(settings.decoder_num_heads, flags.GetInt("decoder-num-heads", 0));
    VMAE_ASSIGN_OR_RETURN(settings.num_frames, flags.GetInt("num-frames", 0));
    VMAE_ASSIGN_OR_RETURN(settings.image_size, flags.GetInt("image-size", 0));
    if (flags.Has("normalize-target")) {
      settings.normalize_target = flags.Get("normalize-target") == "true";
    }
    if (flags.Has("labels")) {
      VMAE_ASSIGN_OR_RETURN(settings.labels, ReadLines(flags.Get("labels")));
    }
    VMAE_RETURN_IF_ERROR(checkpoint::WriteHfCheckpoint(loaded, settings, out));
  }
  std::printf("converted %s (%s, %s, %lld parameters) to %s (%s)\n", in.c_str(),
              std::string(checkpoint::CheckpointFormatName(loaded.format)).c_str(),
              loaded.kind == checkpoint::ModelKind::kPretrain ? "pretrain" : "finetune",
              static_cast<long long>(loaded.num_parameters), out.c_str(), to.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunConvert(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", kUsage, FlagsHelp(Flags()).c_str());
    return kExitOk;
  }
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, Flags());
  absl::Status status = flags.ok() ? Convert(*flags) : flags.status();
  if (!status.ok()) {
    std::fprintf(stderr, "vmae convert: %s\n", std::string(status.message()).c_str());
    return flags.ok() ? ExitCodeFor(status) : kExitUsage;
  }
  return kExitOk;
}

}  // namespace vmae::tool
