// `vmae predict`: the fine-tuned classifier's logits for a clip batch, and
// the top-k classes of each clip.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/model/classifier.h"
#include "worker/tool/checkpoint_weights.h"
#include "worker/tool/clip_input.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"
#include "worker/tool/load_weights.h"
#include "worker/tool/model_from_spec.h"
#include "worker/tool/tensor_file.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"checkpoint", false, "fine-tuned checkpoint: native dir, HF dir, or authors' .pth"},
      {"model-config", false, "job file or its model: section (arch, sizes, num_classes)"},
      {"tensor", false, "input clip: torch.save of a float [B,3,T,H,W] normalised tensor"},
      {"output", false, "also write the [B, num_classes] logits here (.pt)"},
      {"topk", false, "classes listed per clip (default 5)"},
      {"labels", false, "text file with one class name per line, in class order"},
      {"format", false, "table (default) or json; also -o"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae predict --checkpoint C --model-config M.yaml --tensor CLIP.pt\n"
    "                    [--output OUT.pt] [--topk 5] [--labels NAMES.txt] [-o json]\n"
    "Runs the fine-tuned classifier (eval mode) on a clip batch and lists the\n"
    "top-k classes of each clip with their softmax probabilities.\n";

absl::StatusOr<std::vector<std::string>> ReadLabels(const std::string& path, int64_t classes) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read --labels '", path, "'"));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  if (static_cast<int64_t>(names.size()) != classes) {
    return absl::InvalidArgumentError(absl::StrCat("--labels '", path, "' has ", names.size(),
                                                   " lines; the model has ", classes,
                                                   " classes (one name per line)"));
  }
  return names;
}

absl::Status Predict(const ParsedFlags& flags) {
  std::string checkpoint, config, tensor_path;
  VMAE_ASSIGN_OR_RETURN(checkpoint, flags.Require("checkpoint"));
  VMAE_ASSIGN_OR_RETURN(config, flags.Require("model-config"));
  VMAE_ASSIGN_OR_RETURN(tensor_path, flags.Require("tensor"));
  int64_t topk = 0;
  VMAE_ASSIGN_OR_RETURN(topk, flags.GetInt("topk", 5));
  const std::string format = flags.Get("format", "table");
  if (format != "table" && format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("--format ", format, ": expected table or json"));
  }

  model::ModelOptions options;
  VMAE_ASSIGN_OR_RETURN(options, LoadModelOptions(config, v1::JOB_KIND_FINETUNE));
  if (topk < 1 || topk > options.num_classes()) {
    return absl::InvalidArgumentError(absl::StrCat("--topk=", topk, ": expected 1..",
                                                   options.num_classes(), " (the class count)"));
  }
  std::vector<std::string> labels;
  if (flags.Has("labels")) {
    VMAE_ASSIGN_OR_RETURN(labels, ReadLabels(flags.Get("labels"), options.num_classes()));
  }
  at::Tensor clip;
  VMAE_ASSIGN_OR_RETURN(clip, ReadClipTensor(tensor_path, options));

  CheckpointWeights weights;
  VMAE_ASSIGN_OR_RETURN(weights, ReadCheckpointWeights(checkpoint));
  if (weights.pretrain) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", checkpoint, "' is a pre-training checkpoint (encoder + decoder, no "
                     "classifier head); fine-tune it first, or use `vmae reconstruct`"));
  }
  model::VisionTransformer net(options);
  VMAE_RETURN_IF_ERROR(LoadWeightsStrict(*net, weights.tensors, checkpoint));
  net->eval();

  torch::NoGradGuard no_grad;
  at::Tensor logits;
  try {
    logits = net->forward(clip);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model rejected the input: ", e.what_without_backtrace()));
  }
  if (flags.Has("output")) {
    VMAE_RETURN_IF_ERROR(WriteTensorFile(flags.Get("output"), logits));
  }

  const auto [probs, classes] = torch::softmax(logits, -1).topk(topk, -1);
  nlohmann::json clips = nlohmann::json::array();
  for (int64_t i = 0; i < logits.size(0); ++i) {
    nlohmann::json top = nlohmann::json::array();
    for (int64_t k = 0; k < topk; ++k) {
      const int64_t c = classes[i][k].item<int64_t>();
      nlohmann::json entry = {{"class", c}, {"probability", probs[i][k].item<double>()}};
      if (!labels.empty()) entry["label"] = labels[c];
      top.push_back(entry);
    }
    clips.push_back({{"clip", i}, {"top", top}});
  }
  if (format == "json") {
    nlohmann::json out = {{"clips", clips}};
    if (flags.Has("output")) out["logits_file"] = flags.Get("output");
    std::printf("%s\n", out.dump(2).c_str());
    return absl::OkStatus();
  }
  std::printf("%-6s %-5s %-8s %-12s %s\n", "CLIP", "RANK", "CLASS", "PROBABILITY", "LABEL");
  for (const auto& c : clips) {
    int rank = 1;
    for (const auto& e : c["top"]) {
      std::printf("%-6d %-5d %-8lld %-12.6f %s\n", c["clip"].get<int>(), rank++,
                  static_cast<long long>(e["class"].get<int64_t>()), e["probability"].get<double>(),
                  e.contains("label") ? e["label"].get<std::string>().c_str() : "");
    }
  }
  if (flags.Has("output")) std::printf("logits written to %s\n", flags.Get("output").c_str());
  return absl::OkStatus();
}

}  // namespace

int RunPredict(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", kUsage, FlagsHelp(Flags()).c_str());
    return kExitOk;
  }
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, Flags());
  if (!flags.ok()) {
    std::fprintf(stderr, "vmae predict: %s\n", std::string(flags.status().message()).c_str());
    return kExitUsage;
  }
  const absl::Status status = Predict(*flags);
  if (!status.ok()) {
    std::fprintf(stderr, "vmae predict: %s\n", std::string(status.message()).c_str());
    return ExitCodeFor(status);
  }
  return kExitOk;
}

}  // namespace vmae::tool
