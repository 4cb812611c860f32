#include "worker/train/train_step.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// at::_fused_adamw_ (the kernel behind torch.optim.AdamW(fused=True)) exists
// from LibTorch 2.1 on; Debian's 1.13 (CPU only) compiles without it.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define VMAE_HAS_FUSED_ADAMW 1
#else
#define VMAE_HAS_FUSED_ADAMW 0
#endif

// LibTorch 2.4 replaced the CUDA-only autocast setters by per-device ones
// and deprecated the old names (a warning, so an error under -Werror).
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define VMAE_AUTOCAST_PER_DEVICE 1
#else
#define VMAE_AUTOCAST_PER_DEVICE 0
#endif

namespace vmae::train {
namespace {

// Python's `with torch.autocast("cuda", dtype=...)`: enables CUDA autocast
// for the scope, restores the previous state and drops the cast cache when
// the outermost scope ends.
class CudaAutocastScope {
 public:
  CudaAutocastScope(bool enabled, at::ScalarType dtype) : active_(enabled) {
    if (!active_) {
      return;
    }
#if VMAE_AUTOCAST_PER_DEVICE
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, dtype);
#else
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(dtype);
#endif
    at::autocast::increment_nesting();
  }
  ~CudaAutocastScope() {
    if (!active_) {
      return;
    }
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
#if VMAE_AUTOCAST_PER_DEVICE
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
  }
  CudaAutocastScope(const CudaAutocastScope&) = delete;
  CudaAutocastScope& operator=(const CudaAutocastScope&) = delete;

 private:
  bool active_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

const torch::optim::AdamWOptions& AdamWOptionsOf(const torch::optim::OptimizerParamGroup& g) {
  return static_cast<const torch::optim::AdamWOptions&>(g.options());
}

// The optimizer state's key for `p`: LibTorch keyed it by the printed
// TensorImpl address up to 1.13 and by the address itself later.
template <typename Map>
typename Map::key_type StateKey(const Map&, const at::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    return c10::guts::to_string(p.unsafeGetTensorImpl());
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// The AdamWParamState of `p` in `adamw`, created (zero moments, step 0) on
// first use, exactly as torch::optim::AdamW::step() creates it.
torch::optim::AdamWParamState& StateOf(torch::optim::AdamW& adamw, const at::Tensor& p) {
  auto& state = adamw.state();
  auto key = StateKey(state, p);
  auto it = state.find(key);
  if (it == state.end()) {
    auto fresh = std::make_unique<torch::optim::AdamWParamState>();
    fresh->step(0);
    fresh->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
    fresh->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
    it = state.emplace(key, std::move(fresh)).first;
  }
  return static_cast<torch::optim::AdamWParamState&>(*it->second);
}

// torch::optim::AdamW::step() for contiguous fp32 CPU parameters, in one
// pass over p, grad and the moments instead of seven (the step is
// memory-bound on the CPU). Per element, the same formula in the same
// order as LibTorch's (and PyTorch's single-tensor) AdamW:
//   p *= 1 - lr * wd; m = m * b1 + (1 - b1) * g; v = v * b2 + (1 - b2) * g * g
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// (equal up to float rounding: ATen's vector kernels may fuse a
// multiply-add). Returns false, having changed nothing, unless every
// parameter with a gradient qualifies.
bool FusedCpuAdamWStep(torch::optim::AdamW& adamw) {
  torch::NoGradGuard no_grad;
  for (auto& group : adamw.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined() && !(p.device().is_cpu() && p.scalar_type() == at::kFloat &&
                                  p.is_contiguous() && p.grad().is_contiguous() &&
                                  p.grad().scalar_type() == at::kFloat && !p.grad().is_sparse())) {
        return false;
      }
    }
  }
  for (auto& group : adamw.param_groups()) {
    const auto& o = AdamWOptionsOf(group);
    TORCH_CHECK(!o.amsgrad(), "fused AdamW: amsgrad is not supported");
    const double lr = o.lr();
    const float decay = static_cast<float>(1.0 - lr * o.weight_decay());
    const bool apply_decay = o.weight_decay() != 0.0;
    const double beta1 = std::get<0>(o.betas());
    const double beta2 = std::get<1>(o.betas());
    const float b1 = static_cast<float>(beta1);
    const float b2 = static_cast<float>(beta2);
    const float one_minus_b1 = static_cast<float>(1.0 - beta1);
    const float one_minus_b2 = static_cast<float>(1.0 - beta2);
    const float eps = static_cast<float>(o.eps());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) {
        continue;
      }
      torch::optim::AdamWParamState& s = StateOf(adamw, p);
      s.step(s.step() + 1);
      const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(s.step()));
      const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(s.step()));
      const float sqrt_bc2 = static_cast<float>(std::sqrt(bias_correction2));
      const float step_size = static_cast<float>(lr / bias_correction1);
      float* pd = p.data_ptr<float>();
      const float* gd = p.grad().data_ptr<float>();
      float* md = s.exp_avg().data_ptr<float>();
      float* vd = s.exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          float x = pd[i];
          if (apply_decay) {
            x *= decay;
          }
          const float g = gd[i];
          const float m = md[i] * b1 + one_minus_b1 * g;
          const float v = vd[i] * b2 + one_minus_b2 * g * g;
          md[i] = m;
          vd[i] = v;
          x -= step_size * (m / (std::sqrt(v) / sqrt_bc2 + eps));
          pd[i] = x;
        }
      });
    }
  }
  return true;
}

// Drops every gradient (set_to_none): the next backward stores its
// gradients instead of zero-filling and then adding to them.
void ClearGradients(const std::vector<at::Tensor>& params) {
  for (const at::Tensor& p : params) {
    if (p.grad().defined()) {
      const_cast<at::Tensor&>(p).mutable_grad() = at::Tensor();
    }
  }
}

#if VMAE_HAS_FUSED_ADAMW

// torch.optim.AdamW(fused=True).step() on the state of `adamw`, group by
// group: the moments live in the same AdamWParamState entries that
// torch::optim::AdamW (and the native checkpoint) use.
void FusedAdamWStep(torch::optim::AdamW& adamw) {
  torch::NoGradGuard no_grad;
  for (auto& group : adamw.param_groups()) {
    const auto& o = AdamWOptionsOf(group);
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
    std::vector<int64_t> steps;
    std::vector<torch::optim::AdamWParamState*> states;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) {
        continue;
      }
      auto* s = &StateOf(adamw, p);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s->exp_avg());
      exp_avg_sqs.push_back(s->exp_avg_sq());
      steps.push_back(s->step() + 1);
      states.push_back(s);
    }
    if (params.empty()) {
      continue;
    }
    // Python increments the float32 step tensors before calling the kernel.
    const at::Tensor step_values =
        torch::tensor(steps, torch::kInt64).to(torch::kFloat32).to(params[0].device());
    const std::vector<at::Tensor> state_steps = step_values.unbind(0);
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, state_steps,
                      o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(),
                      o.eps(), /*amsgrad=*/false, /*maximize=*/false);
    for (size_t i = 0; i < states.size(); ++i) {
      states[i]->step(steps[i]);
    }
  }
}
#endif

// Every parameter gradient of the optimizer, divided by `scale`; false when
// any is not finite (GradScaler.unscale_ + found_inf).
bool UnscaleGradients(const std::vector<at::Tensor>& params, double scale) {
  torch::NoGradGuard no_grad;
  at::Tensor finite;
  for (const at::Tensor& p : params) {
    if (!p.grad().defined()) {
      continue;
    }
    at::Tensor g = p.grad();
    g.mul_(1.0 / scale);
    at::Tensor ok = torch::isfinite(g).all();
    finite = finite.defined() ? finite.logical_and(ok) : ok;
  }
  return !finite.defined() || finite.item<bool>();
}

// Losses are computed in fp32 (autocast's fp16 / bf16 outputs are widened);
// fp32 and fp64 stay as they are.
at::Tensor ToFloat32IfReduced(const at::Tensor& t) {
  const at::ScalarType s = t.scalar_type();
  return (s == at::kHalf || s == at::kBFloat16) ? t.to(at::kFloat) : t;
}

at::Device DeviceOf(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) {
    return p.device();
  }
  return at::Device(at::kCPU);
}

}  // namespace

std::optional<Precision> ParsePrecision(std::string_view name) {
  if (name == "fp32") {
    return Precision::kFloat32;
  }
  if (name == "bf16") {
    return Precision::kBFloat16;
  }
  if (name == "fp16") {
    return Precision::kFloat16;
  }
  return std::nullopt;
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::kFloat32:
      return "fp32";
    case Precision::kBFloat16:
      return "bf16";
    case Precision::kFloat16:
      return "fp16";
  }
  return "?";
}

bool FusedAdamWCompiledIn() { return VMAE_HAS_FUSED_ADAMW != 0; }

TrainStepper::TrainStepper(GroupedAdamW* optimizer, const TrainSchedule* schedule,
                           const StepOptions& options, int64_t samples_seen)
    : optimizer_(optimizer),
      schedule_(schedule),
      options_(options),
      accumulator_(options.accum_steps),
      samples_seen_(samples_seen) {
  TORCH_CHECK(optimizer_ != nullptr, "TrainStepper: optimizer is null");
  TORCH_CHECK(samples_seen >= 0, "TrainStepper: negative samples_seen ", samples_seen);
  if (options_.cuda_precision == Precision::kFloat16) {
    TORCH_CHECK(options_.fp16_init_scale > 0.0 && options_.fp16_growth_interval > 0,
                "TrainStepper: fp16 needs a positive loss scale and growth interval");
    loss_scale_ = options_.fp16_init_scale;
  }
}

StepResult TrainStepper::Run(const std::function<at::Tensor()>& forward_loss,
                             const c10::Device& device, int64_t clips) {
  StepResult result;
  if (accumulator_.AtStepStart()) {
    if (schedule_ != nullptr) {
      step_lr_ = schedule_->LrAtSamples(samples_seen_);
      step_wd_ = schedule_->WdAtSamples(samples_seen_);
      ApplySchedule(*optimizer_, step_lr_, step_wd_);
    } else {
      step_lr_ = optimizer_->group_lr(0);
      step_wd_ = optimizer_->group_weight_decay(0);
    }
    clips_in_step_ = 0;
  }
  const bool cuda = device.is_cuda();
  const Precision precision = cuda ? options_.cuda_precision : Precision::kFloat32;
  const bool fp16 = precision == Precision::kFloat16;
  at::Tensor loss;
  {
    CudaAutocastScope autocast(cuda && precision != Precision::kFloat32,
                               fp16 ? at::kHalf : at::kBFloat16);
    loss = forward_loss();
  }
  TORCH_CHECK(loss.defined() && loss.numel() == 1, "TrainStepper: the loss must be a scalar");
  loss = ToFloat32IfReduced(loss).reshape({});
  at::Tensor to_backward = accumulator_.ScaleLoss(loss);
  if (fp16) {
    to_backward = to_backward * loss_scale_;
  }
  const bool final_micro_batch = accumulator_.micro_batch() + 1 == accumulator_.accum_steps();
  if (final_micro_batch && grad_sync_ != nullptr) {
    grad_sync_->BeforeFinalBackward();
  }
  to_backward.backward();
  if (final_micro_batch && grad_sync_ != nullptr) {
    grad_sync_->AfterFinalBackward();
  }
  result.loss = loss.item<double>();
  clips_in_step_ += clips;
  result.lr = step_lr_;
  result.weight_decay = step_wd_;
  if (accumulator_.EndMicroBatch()) {
    FinishStep(device, result);
  }
  result.samples_seen = samples_seen_;
  return result;
}

void TrainStepper::FinishStep(const c10::Device& device, StepResult& result) {
  const std::vector<at::Tensor> params = optimizer_->Parameters();
  result.optimizer_stepped = true;
  const bool fp16 = device.is_cuda() && options_.cuda_precision == Precision::kFloat16;
  if (fp16 && !UnscaleGradients(params, loss_scale_)) {
    // GradScaler: skip the step, back off the scale.
    result.skipped = true;
    loss_scale_ *= 0.5;
    good_steps_ = 0;
    ClearGradients(params);
  } else {
    result.grad_norm = ClipGradNorm(params, options_.clip_grad);
    OptimizerStep(device);
    ClearGradients(params);
    if (fp16 && ++good_steps_ == options_.fp16_growth_interval) {
      loss_scale_ *= 2.0;
      good_steps_ = 0;
    }
  }
  samples_seen_ += schedule_ != nullptr ? schedule_->global_batch() : clips_in_step_;
  clips_in_step_ = 0;
}

void TrainStepper::OptimizerStep(const c10::Device& device) {
#if VMAE_HAS_FUSED_ADAMW
  if (options_.fused_adamw && device.is_cuda()) {
    FusedAdamWStep(optimizer_->adamw());
    return;
  }
#endif
  if (options_.fused_adamw && device.is_cpu() && FusedCpuAdamWStep(optimizer_->adamw())) {
    return;
  }
  optimizer_->Step();
}

StepResult PretrainStep(model::PretrainVisionTransformer& model, TrainStepper& stepper,
                        const at::Tensor& clips, const at::Tensor& mask,
                        const at::Tensor& decoder_mask, const PretrainLossOptions& loss) {
  const at::Device device = DeviceOf(*model);
  const at::Tensor x = clips.to(device, /*non_blocking=*/true);
  const at::Tensor enc_mask = mask.to(device);
  const at::Tensor dec_mask = decoder_mask.defined() ? decoder_mask.to(device) : decoder_mask;
  const model::ModelOptions& o = model->options;
  return stepper.Run(
      [&]() {
        // The target comes from the fp32 clip, outside autocast's reach
        // (ReconstructionTarget runs without grad).
        const at::Tensor target =
            model::ReconstructionTarget(x, o.tubelet_size(), o.patch_size(),
                                        loss.normalize_target);
        const at::Tensor pred = model->forward(x, enc_mask, dec_mask);
        return model::ReconstructionLoss(ToFloat32IfReduced(pred), target,
                                         model::DecodedPositions(enc_mask, dec_mask), loss.kind);
      },
      device, x.size(0));
}

StepResult FinetuneStep(model::VisionTransformer& model, TrainStepper& stepper,
                        const at::Tensor& clips, const LogitsLoss& loss_fn) {
  TORCH_CHECK(static_cast<bool>(loss_fn), "FinetuneStep: no loss function");
  const at::Device device = DeviceOf(*model);
  const at::Tensor x = clips.to(device, /*non_blocking=*/true);
  return stepper.Run([&]() { return loss_fn(model->forward(x)); }, device, x.size(0));
}

StepResult FinetuneStep(model::VisionTransformer& model, TrainStepper& stepper,
                        const at::Tensor& clips, const at::Tensor& targets) {
  TORCH_CHECK(targets.defined() && targets.size(0) == clips.size(0),
              "FinetuneStep: need one target per clip, got ",
              targets.defined() ? targets.sizes() : at::IntArrayRef{}, " for ", clips.sizes());
  const at::Tensor y = targets.to(DeviceOf(*model));
  return FinetuneStep(model, stepper, clips, [&y](const at::Tensor& logits) {
    const at::Tensor l = ToFloat32IfReduced(logits);
    if (!y.is_floating_point()) {
      return torch::nn::functional::cross_entropy(l, y);
    }
    TORCH_CHECK(y.sizes() == l.sizes(), "FinetuneStep: soft targets ", y.sizes(),
                " do not match the logits ", l.sizes());
    return torch::sum(-y.to(l.scalar_type()) * torch::log_softmax(l, -1), -1).mean();
  });
}

}  // namespace vmae::train
