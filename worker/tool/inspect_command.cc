// `vmae inspect CKPT`: what a checkpoint holds, without a model config.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/checkpoint/checkpoint_loader.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"format", false, "table (default) or json; also -o"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae inspect CHECKPOINT [-o json]\n"
    "CHECKPOINT is a native checkpoint directory (or its model.safetensors), a\n"
    "Hugging Face directory (config.json + model.safetensors) or an authors' .pth.\n";

// The preset an encoder matches (reference "Sizes"), or "custom".
std::string ArchName(const checkpoint::CheckpointDims& d) {
  struct Preset {
    const char* name;
    int64_t width, depth;
  };
  constexpr Preset kPresets[] = {
      {"vit_small", 384, 12}, {"vit_base", 768, 12}, {"vit_large", 1024, 24}, {"vit_huge", 1280, 32}};
  for (const Preset& p : kPresets) {
    if (d.embed_dim == p.width && d.depth == p.depth) return p.name;
  }
  return "custom";
}

nlohmann::json Describe(const checkpoint::LoadedCheckpoint& c) {
  const checkpoint::CheckpointDims& d = c.dims;
  const bool pretrain = c.kind == checkpoint::ModelKind::kPretrain;
  nlohmann::json arch = {{"arch", ArchName(d)},
                         {"embed_dim", d.embed_dim},
                         {"depth", d.depth},
                         {"mlp_ratio", d.mlp_ratio()},
                         {"patch_size", d.patch_size},
                         {"tubelet_size", d.tubelet_size},
                         {"in_chans", d.in_chans}};
  if (d.num_heads > 0) arch["num_heads"] = d.num_heads;
  if (d.num_frames > 0) arch["num_frames"] = d.num_frames;
  if (d.image_size > 0) arch["image_size"] = d.image_size;
  if (pretrain) {
    arch["decoder_embed_dim"] = d.decoder_embed_dim;
    arch["decoder_depth"] = d.decoder_depth;
    if (d.decoder_num_heads > 0) arch["decoder_num_heads"] = d.decoder_num_heads;
  } else {
    arch["num_classes"] = d.num_classes;
    arch["use_mean_pooling"] = d.use_mean_pooling;
  }
  nlohmann::json out = {
      {"path", c.files.model_file},
      {"format", std::string(checkpoint::CheckpointFormatName(c.format))},
      {"kind", pretrain ? "pretrain" : "finetune"},
      {"dtype", c.source_dtype},
      {"parameters", c.num_parameters},
      {"tensors", c.state_dict.size()},
      {"model", arch},
  };
  if (c.manifest.has_value()) {
    out["step"] = c.manifest->step;
    out["samples_seen"] = c.manifest->samples_seen;
    out["data_cursor"] = {{"epoch", c.manifest->data_cursor.epoch},
                          {"position", c.manifest->data_cursor.position}};
    if (!c.manifest->provenance.version.empty()) out["vmae_version"] = c.manifest->provenance.version;
  }
  nlohmann::json notes = c.notes;
  const absl::Status fits =
      checkpoint::CheckArchitecture(c.state_dict, checkpoint::ToModelDims(d, c.kind), c.files.model_file);
  out["complete"] = fits.ok();
  if (!fits.ok()) notes.push_back(std::string(fits.message()));
  out["notes"] = notes;
  return out;
}

std::string WithThousands(int64_t n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

void PrintTable(const nlohmann::json& j) {
  std::printf("%-14s %s\n", "Path:", j["path"].get<std::string>().c_str());
  std::printf("%-14s %s\n", "Format:", j["format"].get<std::string>().c_str());
  std::printf("%-14s %s\n", "Kind:", j["kind"].get<std::string>().c_str());
  std::printf("%-14s %s (%zu tensors, %s)\n", "Parameters:",
              WithThousands(j["parameters"].get<int64_t>()).c_str(),
              j["tensors"].get<size_t>(), j["dtype"].get<std::string>().c_str());
  std::printf("%-14s %s\n", "Complete:",
              j["complete"].get<bool>() ? "yes (every tensor of the architecture, nothing else)"
                                        : "no (see the notes)");
  if (j.contains("step")) {
    std::printf("%-14s %lld (samples seen %lld)\n", "Step:",
                static_cast<long long>(j["step"].get<int64_t>()),
                static_cast<long long>(j["samples_seen"].get<int64_t>()));
  } else {
    std::printf("%-14s %s\n", "Step:", "unknown (the file does not record it)");
  }
  std::printf("Model:\n");
  for (const auto& [key, value] : j["model"].items()) {
    std::printf("  %-20s %s\n", (key + ":").c_str(),
                value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
  }
  for (const auto& note : j["notes"]) std::printf("Note: %s\n", note.get<std::string>().c_str());
}

absl::Status Inspect(const ParsedFlags& flags) {
  if (flags.positional().size() != 1) {
    return absl::InvalidArgumentError("expected one CHECKPOINT argument (see --help)");
  }
  const std::string format = flags.Get("format", "table");
  if (format != "table" && format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("--format ", format, ": expected table or json"));
  }
  checkpoint::LoadOptions options;
  options.dtype = std::nullopt;  // report the file's own dtype; nothing is computed.
  options.strict = false;        // describe incomplete files too, with what is missing.
  checkpoint::LoadedCheckpoint loaded;
  VMAE_ASSIGN_OR_RETURN(loaded, checkpoint::LoadCheckpoint(flags.positional()[0], options));
  const nlohmann::json j = Describe(loaded);
  if (format == "json") {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    PrintTable(j);
  }
  return absl::OkStatus();
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", kUsage, FlagsHelp(Flags()).c_str());
    return kExitOk;
  }
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, Flags());
  absl::Status status = flags.ok() ? Inspect(*flags) : flags.status();
  if (!status.ok()) {
    std::fprintf(stderr, "vmae inspect: %s\n", std::string(status.message()).c_str());
    return flags.ok() ? ExitCodeFor(status) : kExitUsage;
  }
  return kExitOk;
}

}  // namespace vmae::tool
