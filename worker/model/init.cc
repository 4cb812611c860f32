#include "worker/model/init.h"

#include <torch/torch.h>

#include <cmath>

namespace vmae::model {
namespace {

double NormCdf(double x) { return (1.0 + std::erf(x / std::sqrt(2.0))) / 2.0; }

template <typename Fn>
void ForEachLinearAndNorm(torch::nn::Module& module, Fn&& init_linear_weight) {
  torch::NoGradGuard no_grad;
  // include_self=false: this runs from constructors (reset()), before the
  // module is owned by a shared_ptr; the callers are never Linear/LayerNorm.
  for (const auto& m : module.modules(/*include_self=*/false)) {
    if (auto* linear = m->as<torch::nn::Linear>()) {
      init_linear_weight(linear->weight);
      if (linear->bias.defined()) {
        linear->bias.zero_();
      }
    } else if (auto* norm = m->as<torch::nn::LayerNorm>()) {
      if (norm->weight.defined()) {
        norm->weight.fill_(1.0);
      }
      if (norm->bias.defined()) {
        norm->bias.zero_();
      }
    }
  }
}

}  // namespace

void TruncNormal_(at::Tensor tensor, double mean, double std, double a, double b) {
  TORCH_CHECK(std > 0 && a < b, "TruncNormal_: need std > 0 and a < b, got std=", std,
              " a=", a, " b=", b);
  torch::NoGradGuard no_grad;
  if (a <= mean - 8.0 * std && b >= mean + 8.0 * std) {
    // Bounds beyond 8 sigma (timm's default -2..2 with std 0.02): the
    // inverse-CDF draw is uniform(-1, 1) through erfinv, i.e. exactly a
    // normal draw, and the slow erfinv over ~86M weights is skipped.
    tensor.normal_(mean, std);
    tensor.clamp_(a, b);
    return;
  }
  const double l = NormCdf((a - mean) / std);
  const double u = NormCdf((b - mean) / std);
  tensor.uniform_(2.0 * l - 1.0, 2.0 * u - 1.0);
  tensor.erfinv_();
  tensor.mul_(std * std::sqrt(2.0));
  tensor.add_(mean);
  tensor.clamp_(a, b);
}

void InitXavierLinearsAndNorms(torch::nn::Module& module) {
  ForEachLinearAndNorm(module, [](at::Tensor& w) { torch::nn::init::xavier_uniform_(w); });
}

void InitTruncNormalLinearsAndNorms(torch::nn::Module& module) {
  ForEachLinearAndNorm(module, [](at::Tensor& w) { TruncNormal_(w, 0.0, 0.02, -2.0, 2.0); });
}

}  // namespace vmae::model
