// `vmae bench`: the speed of one training step (forward, backward, AdamW)
// on synthetic input: clips/s, step time and achieved TFLOP/s.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/bench/engine_bench.h"
#include "worker/cpu/openblas_kernels.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"mode", false, "pretrain (default) or finetune"},
      {"arch", false, "vit_small (default), vit_base, vit_large, vit_huge or custom"},
      {"frames", false, "frames per clip (default 16)"},
      {"image-size", false, "square side in pixels (default 224)"},
      {"batch", false, "clips per step (default 2)"},
      {"threads", false, "intra-op CPU threads; 0 = LibTorch's default (default 2)"},
      {"device", false, "cpu (default), cuda or cuda:N"},
      {"precision", false, "on CUDA: bf16 (default), fp16 or fp32; the CPU runs fp32"},
      {"warmup", false, "untimed steps first (default 2)"},
      {"steps", false, "timed steps (default 5)"},
      {"mask-ratio", false, "pretrain: tube mask ratio (default 0.9)"},
      {"decoder-depth", false, "pretrain: decoder blocks (default 4)"},
      {"num-classes", false, "finetune: classes (default 400)"},
      {"embed-dim", false, "custom: encoder width"},
      {"depth", false, "custom: encoder blocks"},
      {"num-heads", false, "custom: encoder heads"},
      {"decoder-embed-dim", false, "custom: decoder width"},
      {"decoder-num-heads", false, "custom: decoder heads"},
      {"seed", false, "seed of the synthetic input and weights (default 0)"},
      {"format", false, "table (default) or json; also -o"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae bench [--mode pretrain|finetune] [--arch vit_small|vit_base|...|custom]\n"
    "                  [--frames 16] [--image-size 224] [--batch 2] [--threads 2]\n"
    "                  [--device cpu|cuda] [--precision bf16] [--warmup 2] [--steps 5] [-o json]\n"
    "Times full training steps (forward, backward, AdamW) on random clips and reports\n"
    "clips/s, the step time (median, min, max) and the TFLOP/s achieved, from an\n"
    "analytic count of the step's matmul FLOPs (3 x forward).\n";

absl::Status ReadInt(const ParsedFlags& flags, const std::string& name, int64_t* value) {
  VMAE_ASSIGN_OR_RETURN(*value, flags.GetInt(name, *value));
  return absl::OkStatus();
}

absl::StatusOr<bench::EngineBenchOptions> OptionsFrom(const ParsedFlags& flags) {
  bench::EngineBenchOptions o;
  VMAE_ASSIGN_OR_RETURN(o.mode, bench::ParseBenchMode(flags.Get("mode", "pretrain")));
  o.arch = flags.Get("arch", o.arch);
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "frames", &o.frames));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "image-size", &o.image_size));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "batch", &o.batch));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "threads", &o.threads));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "warmup", &o.warmup_steps));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "steps", &o.steps));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "decoder-depth", &o.decoder_depth));
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "num-classes", &o.num_classes));
  VMAE_ASSIGN_OR_RETURN(o.mask_ratio, flags.GetDouble("mask-ratio", o.mask_ratio));
  int64_t seed = 0;
  VMAE_RETURN_IF_ERROR(ReadInt(flags, "seed", &seed));
  o.seed = static_cast<uint64_t>(seed);
  o.device = flags.Get("device", o.device);
  const std::string precision = flags.Get("precision", "bf16");
  const auto parsed = train::ParsePrecision(precision);
  if (!parsed.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--precision ", precision, ": expected bf16, fp16 or fp32"));
  }
  o.precision = *parsed;
  const bool custom = o.arch == "custom";
  for (const char* name :
       {"embed-dim", "depth", "num-heads", "decoder-embed-dim", "decoder-num-heads"}) {
    if (flags.Has(name) && !custom) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs --arch custom"));
    }
  }
  if (custom) {
    int64_t embed_dim = o.custom.embed_dim(), depth = o.custom.depth(),
            heads = o.custom.num_heads(), dec_dim = o.custom.decoder_embed_dim(),
            dec_heads = o.custom.decoder_num_heads();
    VMAE_RETURN_IF_ERROR(ReadInt(flags, "embed-dim", &embed_dim));
    VMAE_RETURN_IF_ERROR(ReadInt(flags, "depth", &depth));
    VMAE_RETURN_IF_ERROR(ReadInt(flags, "num-heads", &heads));
    VMAE_RETURN_IF_ERROR(ReadInt(flags, "decoder-embed-dim", &dec_dim));
    VMAE_RETURN_IF_ERROR(ReadInt(flags, "decoder-num-heads", &dec_heads));
    if (embed_dim < 1 || depth < 1 || heads < 1 || embed_dim % heads != 0 || dec_dim < 1 ||
        dec_heads < 1 || dec_dim % dec_heads != 0) {
      return absl::InvalidArgumentError(
          "custom arch: widths and heads must be positive, each width a multiple of its heads");
    }
    o.custom.embed_dim(embed_dim).depth(depth).num_heads(heads).decoder_embed_dim(dec_dim)
        .decoder_num_heads(dec_heads);
  }
  return o;
}

nlohmann::json ToJson(const bench::EngineBenchResult& r) {
  const bench::EngineBenchOptions& o = r.options;
  return {
      {"mode", bench::BenchModeName(o.mode)},
      {"arch", o.arch},
      {"embed_dim", r.model.embed_dim()},
      {"depth", r.model.depth()},
      {"frames", o.frames},
      {"image_size", o.image_size},
      {"batch", o.batch},
      {"device", r.device_name},
      {"precision", r.precision},
      {"threads", r.threads},
      {"torch", r.torch_version},
      {"blas", cpu::DescribeBlas()},
      {"parameters", r.parameters},
      {"mask_ratio", o.mode == bench::BenchMode::kPretrain ? o.mask_ratio : 0.0},
      {"decoder_depth", o.mode == bench::BenchMode::kPretrain ? o.decoder_depth : 0},
      {"visible_tokens", r.visible_tokens},
      {"decoded_tokens", r.decoded_tokens},
      {"warmup_steps", o.warmup_steps},
      {"steps", o.steps},
      {"step_seconds", r.step_seconds},
      {"step_s_median", r.median_step_s},
      {"step_s_min", r.min_step_s},
      {"step_s_max", r.max_step_s},
      {"spread", r.spread},
      {"clips_per_s", r.clips_per_s},
      {"step_gflop", r.step_flops / 1e9},
      {"tflops", r.tflops},
      {"last_loss", r.last_loss},
  };
}

void PrintTable(const bench::EngineBenchResult& r) {
  const bench::EngineBenchOptions& o = r.options;
  std::printf("%-16s %s %s, %lldx%lld, batch %lld, %s %s, %lld threads, LibTorch %s\n", "setup",
              bench::BenchModeName(o.mode), o.arch.c_str(), static_cast<long long>(o.frames),
              static_cast<long long>(o.image_size), static_cast<long long>(o.batch),
              r.device_name.c_str(), r.precision.c_str(), static_cast<long long>(r.threads),
              r.torch_version.c_str());
  std::printf("%-16s %s\n", "blas", cpu::DescribeBlas().c_str());
  std::printf("%-16s %.2fM\n", "parameters", static_cast<double>(r.parameters) / 1e6);
  if (o.mode == bench::BenchMode::kPretrain) {
    std::printf("%-16s %lld visible, %lld decoded per clip (mask %.2f, decoder depth %lld)\n",
                "tokens", static_cast<long long>(r.visible_tokens),
                static_cast<long long>(r.decoded_tokens), o.mask_ratio,
                static_cast<long long>(o.decoder_depth));
  }
  std::printf("%-16s %.4f s median, %.4f min, %.4f max (spread %.1f%%, %lld steps after %lld "
              "warmup)\n",
              "step time", r.median_step_s, r.min_step_s, r.max_step_s, 100.0 * r.spread,
              static_cast<long long>(o.steps), static_cast<long long>(o.warmup_steps));
  std::printf("%-16s %.3f\n", "clips/s", r.clips_per_s);
  std::printf("%-16s %.1f GFLOP/step, %.4f TFLOP/s\n", "compute", r.step_flops / 1e9, r.tflops);
  std::printf("%-16s %.4f\n", "last loss", r.last_loss);
}

absl::Status Bench(const ParsedFlags& flags) {
  const std::string format = flags.Get("format", "table");
  if (format != "table" && format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("--format ", format, ": expected table or json"));
  }
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", flags.positional()[0], "' (see --help)"));
  }
  bench::EngineBenchOptions options;
  VMAE_ASSIGN_OR_RETURN(options, OptionsFrom(flags));
  bench::EngineBenchResult result;
  VMAE_ASSIGN_OR_RETURN(result, bench::RunEngineBench(options));
  if (format == "json") {
    std::printf("%s\n", ToJson(result).dump(2).c_str());
  } else {
    PrintTable(result);
  }
  return absl::OkStatus();
}

}  // namespace

int RunBench(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", kUsage, FlagsHelp(Flags()).c_str());
    return kExitOk;
  }
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, Flags());
  if (!flags.ok()) {
    std::fprintf(stderr, "vmae bench: %s\n", std::string(flags.status().message()).c_str());
    return kExitUsage;
  }
  const absl::Status status = Bench(*flags);
  if (!status.ok()) {
    std::fprintf(stderr, "vmae bench: %s\n", std::string(status.message()).c_str());
    return ExitCodeFor(status);
  }
  return kExitOk;
}

}  // namespace vmae::tool
