#include "worker/model/activation_checkpoint.h"

#include <ATen/Context.h>
#include <torch/torch.h>

#include <mutex>
#include <utility>

namespace vmae::model {
namespace {

at::Tensor GetRngState(c10::Device device) {
  at::Generator gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void SetRngState(c10::Device device, const at::Tensor& state) {
  at::Generator gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// What backward needs besides the saved input: the function and the
// generator states seen by the forward pass.
struct CheckpointState : torch::CustomClassHolder {
  TensorFn fn;
  c10::Device device = c10::Device(c10::kCPU);
  at::Tensor cpu_rng;
  at::Tensor device_rng;  // undefined for CPU inputs
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            c10::intrusive_ptr<CheckpointState> state) {
    // Grad mode is off here (custom Function forward), so fn keeps nothing.
    state->cpu_rng = GetRngState(c10::Device(c10::kCPU));
    if (!x.device().is_cpu()) {
      state->device = x.device();
      state->device_rng = GetRngState(x.device());
    }
    at::Tensor out = state->fn(x);
    ctx->save_for_backward({x});
    ctx->saved_data["state"] = c10::IValue::make_capsule(std::move(state));
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    auto holder = ctx->saved_data["state"].toCapsule();
    auto* state = static_cast<CheckpointState*>(holder.get());

    // Fork the generators: replay the forward's draws, then put back the
    // states that the rest of backward expects.
    const at::Tensor cpu_now = GetRngState(c10::Device(c10::kCPU));
    at::Tensor device_now;
    SetRngState(c10::Device(c10::kCPU), state->cpu_rng);
    if (state->device_rng.defined()) {
      device_now = GetRngState(state->device);
      SetRngState(state->device, state->device_rng);
    }
    at::Tensor input = x.detach().requires_grad_(true);
    at::Tensor out;
    {
      torch::AutoGradMode enable_grad(true);
      out = state->fn(input);
    }
    SetRngState(c10::Device(c10::kCPU), cpu_now);
    if (device_now.defined()) {
      SetRngState(state->device, device_now);
    }
    TORCH_CHECK(out.requires_grad(),
                "CheckpointedForward: the recomputed output does not require grad");
    torch::autograd::backward({out}, {grad_outputs[0]});
    // One gradient per forward argument; none for the state.
    return {input.grad(), at::Tensor()};
  }
};

}  // namespace

at::Tensor CheckpointedForward(const TensorFn& fn, const at::Tensor& x) {
  if (!torch::GradMode::is_enabled() || !x.requires_grad()) {
    return fn(x);
  }
  auto state = c10::make_intrusive<CheckpointState>();
  state->fn = fn;
  return CheckpointFunction::apply(x, std::move(state));
}

}  // namespace vmae::model
