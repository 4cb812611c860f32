#include "worker/tool/load_weights.h"

#include <torch/torch.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace vmae::tool {
namespace {

constexpr size_t kNamesShown = 5;

std::string Few(const std::vector<std::string>& names) {
  std::vector<std::string> shown(names.begin(),
                                 names.begin() + std::min(names.size(), kNamesShown));
  std::string text = absl::StrJoin(shown, ", ");
  if (names.size() > kNamesShown) absl::StrAppend(&text, " and ", names.size() - kNamesShown, " more");
  return text;
}

std::string ShapeOf(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

}  // namespace

absl::Status LoadWeightsStrict(torch::nn::Module& model,
                               const std::map<std::string, at::Tensor>& weights,
                               const std::string& source) {
  std::vector<std::string> missing, unexpected, mismatched;
  auto params = model.named_parameters(/*recurse=*/true);
  for (const auto& item : params) {
    auto it = weights.find(item.key());
    if (it == weights.end()) {
      missing.push_back(item.key());
    } else if (it->second.sizes() != item.value().sizes()) {
      mismatched.push_back(absl::StrCat(item.key(), " ", ShapeOf(it->second), " vs model ",
                                        ShapeOf(item.value())));
    } else if (!it->second.is_floating_point()) {
      mismatched.push_back(absl::StrCat(item.key(), " is not floating point"));
    }
  }
  for (const auto& [name, tensor] : weights) {
    if (params.find(name) == nullptr) unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back(absl::StrCat(missing.size(), " missing (", Few(missing), ")"));
    if (!unexpected.empty()) {
      parts.push_back(absl::StrCat(unexpected.size(), " unexpected (", Few(unexpected), ")"));
    }
    if (!mismatched.empty()) {
      parts.push_back(absl::StrCat(mismatched.size(), " mis-shaped (", Few(mismatched), ")"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "the weights of '", source, "' do not fit the model: ", absl::StrJoin(parts, "; "),
        "; check that the model config (arch, sizes, num_classes) is the one the checkpoint was "
        "trained with (`vmae inspect ", source, "` shows its architecture)"));
  }
  torch::NoGradGuard no_grad;
  for (auto& item : params) {
    item.value().copy_(weights.at(item.key()));
  }
  return absl::OkStatus();
}

}  // namespace vmae::tool
