#include "worker/bench/engine_bench.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/model/block.h"
#include "worker/model/classifier.h"
#include "worker/model/masking.h"
#include "worker/model/pretrain_model.h"
#include "worker/train/optimizer.h"
#include "worker/train/param_groups.h"

namespace vmae::bench {
namespace {

train::NamedParameters NamedParametersOf(const torch::nn::Module& module) {
  train::NamedParameters out;
  for (const auto& item : module.named_parameters()) {
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

absl::Status Validate(const EngineBenchOptions& o) {
  if (o.frames < 1 || o.image_size < 1 || o.batch < 1 || o.threads < 0 || o.warmup_steps < 0 ||
      o.steps < 1 || o.decoder_depth < 0 || o.num_classes < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bench: need frames, image size, batch, steps, classes >= 1 and threads, warmup, "
        "decoder depth >= 0; got frames=",
        o.frames, " image_size=", o.image_size, " batch=", o.batch, " threads=", o.threads,
        " warmup=", o.warmup_steps, " steps=", o.steps));
  }
  if (o.device != "cpu" && o.device.rfind("cuda", 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("bench: device must be cpu, cuda or cuda:N, got '", o.device, "'"));
  }
  if (!(o.mask_ratio > 0.0 && o.mask_ratio < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bench: mask ratio must be in (0, 1), got ", o.mask_ratio));
  }
  return absl::OkStatus();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Timed {
  std::vector<double> seconds;
  double last_loss = 0.0;
};

// Runs `step` warmup + steps times, timing the latter (with a device
// synchronisation on CUDA so that queued kernels count).
template <typename Step>
Timed TimeSteps(const EngineBenchOptions& o, const at::Device& device, Step&& step) {
  const auto sync = [&device]() {
    if (device.is_cuda()) {
      torch::cuda::synchronize(device.index());
    }
  };
  Timed out;
  for (int64_t i = 0; i < o.warmup_steps; ++i) {
    out.last_loss = step();
  }
  sync();
  for (int64_t i = 0; i < o.steps; ++i) {
    const auto start = std::chrono::steady_clock::now();
    out.last_loss = step();
    sync();
    out.seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return out;
}

}  // namespace

absl::StatusOr<model::ModelOptions> ArchPreset(const std::string& arch) {
  if (arch == "vit_small") {
    return model::VitSmall();
  }
  if (arch == "vit_base") {
    return model::VitBase();
  }
  if (arch == "vit_large") {
    return model::VitLarge();
  }
  if (arch == "vit_huge") {
    return model::VitHuge();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown arch '", arch, "': expected vit_small, vit_base, vit_large, vit_huge or custom"));
}

absl::StatusOr<BenchMode> ParseBenchMode(const std::string& name) {
  if (name == "pretrain") {
    return BenchMode::kPretrain;
  }
  if (name == "finetune") {
    return BenchMode::kFinetune;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown mode '", name, "': expected pretrain or finetune"));
}

const char* BenchModeName(BenchMode mode) {
  return mode == BenchMode::kPretrain ? "pretrain" : "finetune";
}

double BlockMacs(int64_t n, int64_t d, double mlp_ratio, int64_t blocks) {
  const double nn = static_cast<double>(n);
  const double dd = static_cast<double>(d);
  const double h = static_cast<double>(model::MlpHidden(d, mlp_ratio));
  const double linear = nn * (3.0 * dd * dd + dd * dd + 2.0 * dd * h);
  const double attention = 2.0 * nn * nn * dd;
  return static_cast<double>(blocks) * (linear + attention);
}

double StepFlops(const model::ModelOptions& m, BenchMode mode, int64_t batch,
                 int64_t visible_tokens, int64_t decoded_tokens) {
  const double n = static_cast<double>(model::NumPatches(m));
  const double p = static_cast<double>(model::PatchDim(m));
  const double d = static_cast<double>(m.embed_dim());
  double macs = n * p * d;  // patch embedding
  if (mode == BenchMode::kPretrain) {
    const double dd = static_cast<double>(m.decoder_embed_dim());
    macs += BlockMacs(visible_tokens, m.embed_dim(), m.mlp_ratio(), m.depth());
    macs += static_cast<double>(visible_tokens) * d * dd;
    macs += BlockMacs(visible_tokens + decoded_tokens, m.decoder_embed_dim(), m.mlp_ratio(),
                      m.decoder_depth());
    macs += static_cast<double>(decoded_tokens) * dd * p;
  } else {
    macs += BlockMacs(model::NumPatches(m), m.embed_dim(), m.mlp_ratio(), m.depth());
    macs += d * static_cast<double>(m.num_classes());
  }
  return 3.0 * 2.0 * macs * static_cast<double>(batch);
}

absl::StatusOr<EngineBenchResult> RunEngineBench(const EngineBenchOptions& options) {
  if (absl::Status s = Validate(options); !s.ok()) {
    return s;
  }
  EngineBenchResult result;
  result.options = options;
  model::ModelOptions m;
  if (options.arch == "custom") {
    m = options.custom;
  } else {
    absl::StatusOr<model::ModelOptions> preset = ArchPreset(options.arch);
    if (!preset.ok()) {
      return preset.status();
    }
    m = *preset;
  }
  m.num_frames(options.frames)
      .image_size(options.image_size)
      .decoder_depth(options.decoder_depth)
      .num_classes(options.num_classes);
  if (options.frames % m.tubelet_size() != 0 || options.image_size % m.patch_size() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bench: frames (", options.frames, ") must be a multiple of the tubelet (",
        m.tubelet_size(), ") and the image size (", options.image_size,
        ") of the patch size (", m.patch_size(), ")"));
  }
  result.model = m;
  result.torch_version = TORCH_VERSION;

  try {
    const at::Device device(options.device);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          absl::StrCat("bench: --device ", options.device, " but LibTorch sees no CUDA device"));
    }
    if (options.threads > 0) {
      at::set_num_threads(static_cast<int>(options.threads));
    }
    result.threads = at::get_num_threads();
    result.device_name = device.str();
    result.precision =
        device.is_cuda() ? train::PrecisionName(options.precision) : "fp32";
    torch::manual_seed(options.seed);

    const int64_t b = options.batch;
    const at::Tensor clips =
        torch::randn({b, m.in_chans(), m.num_frames(), m.image_size(), m.image_size()})
            .to(device);
    train::StepOptions step_options;
    step_options.cuda_precision = options.precision;
    const double lr = train::ScaleLrByBatch(1.5e-4, b);
    train::AdamWConfig adamw;
    adamw.beta2 = options.mode == BenchMode::kPretrain ? 0.95 : 0.999;

    auto make_stepper_parts = [&](const torch::nn::Module& module)
        -> absl::StatusOr<train::GroupedAdamW> {
      absl::StatusOr<std::vector<train::ParamGroup>> groups =
          train::BuildParamGroups(NamedParametersOf(module), train::ParamGroupOptions());
      if (!groups.ok()) {
        return groups.status();
      }
      absl::StatusOr<train::GroupedAdamW> opt = train::GroupedAdamW::Create(*groups, adamw);
      if (!opt.ok()) {
        return opt.status();
      }
      train::ApplySchedule(*opt, lr, 0.05);
      return opt;
    };

    Timed timed;
    if (options.mode == BenchMode::kPretrain) {
      model::PretrainVisionTransformer net(m);
      net->to(device);
      net->train();
      result.parameters = 0;
      for (const auto& p : net->parameters()) {
        result.parameters += p.numel();
      }
      absl::StatusOr<train::GroupedAdamW> opt = make_stepper_parts(*net);
      if (!opt.ok()) {
        return opt.status();
      }
      train::TrainStepper stepper(&*opt, nullptr, step_options);
      const at::Tensor mask = model::MaskBatch(model::MaskType::kTube, b, model::GridOf(m),
                                               options.mask_ratio,
                                               model::MakeGenerator(options.seed));
      result.decoded_tokens = mask[0].sum().item<int64_t>();
      result.visible_tokens = model::NumPatches(m) - result.decoded_tokens;
      const at::Tensor mask_on_device = mask.to(device);
      timed = TimeSteps(options, device, [&]() {
        return train::PretrainStep(net, stepper, clips, mask_on_device, {},
                                   train::PretrainLossOptions())
            .loss;
      });
    } else {
      model::VisionTransformer net(m);
      net->to(device);
      net->train();
      for (const auto& p : net->parameters()) {
        result.parameters += p.numel();
      }
      absl::StatusOr<train::GroupedAdamW> opt = make_stepper_parts(*net);
      if (!opt.ok()) {
        return opt.status();
      }
      train::TrainStepper stepper(&*opt, nullptr, step_options);
      const at::Tensor labels =
          torch::randint(m.num_classes(), {b}, torch::TensorOptions().dtype(torch::kInt64))
              .to(device);
      result.visible_tokens = model::NumPatches(m);
      timed = TimeSteps(options, device, [&]() {
        return train::FinetuneStep(net, stepper, clips, labels).loss;
      });
    }
    result.step_seconds = timed.seconds;
    result.last_loss = timed.last_loss;
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("bench: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("bench: ", e.what()));
  }
  result.median_step_s = Median(result.step_seconds);
  result.min_step_s = *std::min_element(result.step_seconds.begin(), result.step_seconds.end());
  result.max_step_s = *std::max_element(result.step_seconds.begin(), result.step_seconds.end());
  result.spread = (result.max_step_s - result.min_step_s) / result.median_step_s;
  result.clips_per_s = static_cast<double>(options.batch) / result.median_step_s;
  result.step_flops = StepFlops(m, options.mode, options.batch, result.visible_tokens,
                                result.decoded_tokens);
  result.tflops = result.step_flops / result.median_step_s / 1e12;
  return result;
}

}  // namespace vmae::bench
