#include "worker/checkpoint/hf_import.h"

#include <ATen/ATen.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace vmae::checkpoint {
namespace {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

using Json = nlohmann::json;

// A config.json is a few KiB; anything near this is not one.
constexpr uint64_t kMaxConfigBytes = uint64_t{16} << 20;
// The class names transformers writes into `architectures`.
constexpr char kPretrainClass[] = "VideoMAEForPreTraining";
constexpr char kClassifierClass[] = "VideoMAEForVideoClassification";

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

std::optional<at::ScalarType> FloatScalarType(absl::string_view dtype) {
  if (dtype == "F64") return at::kDouble;
  if (dtype == "F32") return at::kFloat;
  if (dtype == "F16") return at::kHalf;
  if (dtype == "BF16") return at::kBFloat16;
  return std::nullopt;
}

// Reads a small text file whole; NOT_FOUND names the file and `what_to_do`.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path, absl::string_view what_to_do) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot read (", ec.message(), "); ", what_to_do));
  }
  if (size > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", size, " bytes is too large for a ",
                                                   "config.json (limit ", kMaxConfigBytes, ")"));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (", std::strerror(errno), "); ", what_to_do));
  }
  std::string text(static_cast<size_t>(size), '\0');
  const size_t got = std::fread(text.data(), 1, text.size(), f);
  std::fclose(f);
  if (got != text.size()) {
    return absl::DataLossError(absl::StrCat(path, ": short read"));
  }
  return text;
}

// Typed access to config.json fields; the first problem is kept and names
// the file and the field. Absent fields give the caller's default.
class ConfigReader {
 public:
  ConfigReader(const Json& root, std::string file) : root_(root), file_(std::move(file)) {}

  int64_t Int(const char* key, int64_t fallback) {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number_integer()) {
      Fail(absl::StrCat("field '", key, "' must be an integer, got ", v->type_name()));
      return fallback;
    }
    if (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{1} << 40) {
      Fail(absl::StrCat("field '", key, "' is too large"));
      return fallback;
    }
    return v->get<int64_t>();
  }
  bool Bool(const char* key, bool fallback) {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) {
      Fail(absl::StrCat("field '", key, "' must be true or false, got ", v->type_name()));
      return fallback;
    }
    return v->get<bool>();
  }
  double Number(const char* key, double fallback) {
    const Json* v = Find(key);
    if (v == nullptr) return fallback;
    if (!v->is_number()) {
      Fail(absl::StrCat("field '", key, "' must be a number, got ", v->type_name()));
      return fallback;
    }
    return v->get<double>();
  }
  std::optional<std::string> String(const char* key) {
    const Json* v = Find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      Fail(absl::StrCat("field '", key, "' must be a string, got ", v->type_name()));
      return std::nullopt;
    }
    return v->get<std::string>();
  }
  const Json* Find(const char* key) const {
    const auto it = root_.find(key);
    if (it == root_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void Fail(std::string message) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(file_, ": ", message));
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  const Json& root_;
  std::string file_;
  absl::Status status_;
};

// The kind `architectures` names, if any.
std::optional<ModelKind> KindFromArchitectures(ConfigReader& r) {
  const Json* archs = r.Find("architectures");
  if (archs == nullptr) return std::nullopt;
  if (!archs->is_array()) {
    r.Fail("field 'architectures' must be a list of class names");
    return std::nullopt;
  }
  for (const Json& a : *archs) {
    if (!a.is_string()) {
      r.Fail("field 'architectures' must be a list of class names");
      return std::nullopt;
    }
    if (a.get<std::string>() == kPretrainClass) return ModelKind::kPretrain;
    if (a.get<std::string>() == kClassifierClass) return ModelKind::kFinetune;
  }
  return std::nullopt;
}

// Class names in index order from `id2label` ({"0": "name", ...}); the
// class count from it, else `num_labels`, else transformers' default 2.
void ReadLabels(ConfigReader& r, HfConfigInputs& in) {
  const Json* id2label = r.Find("id2label");
  if (id2label == nullptr) {
    in.num_classes = r.Int("num_labels", 2);
    return;
  }
  if (!id2label->is_object()) {
    r.Fail("field 'id2label' must be an object {\"0\": \"name\", ...}");
    return;
  }
  const size_t n = id2label->size();
  std::vector<std::string> labels(n);
  std::vector<bool> seen(n, false);
  for (auto it = id2label->begin(); it != id2label->end(); ++it) {
    size_t index = 0;
    if (!absl::SimpleAtoi(it.key(), &index) || index >= n || seen[index] ||
        !it.value().is_string()) {
      r.Fail(absl::StrCat("field 'id2label' must map each of \"0\" .. \"", n - 1,
                          "\" to a class name once"));
      return;
    }
    seen[index] = true;
    labels[index] = it.value().get<std::string>();
  }
  in.num_classes = static_cast<int64_t>(n);
  const int64_t num_labels = r.Int("num_labels", in.num_classes);
  if (num_labels != in.num_classes) {
    r.Fail(absl::StrCat("num_labels is ", num_labels, " but id2label has ", n, " entries"));
    return;
  }
  // Duplicate names are legal in transformers but not in our export
  // (label2id needs distinct names): keep the count, drop the names.
  const std::set<std::string> distinct(labels.begin(), labels.end());
  if (distinct.size() == labels.size()) {
    in.labels = std::move(labels);
  }
}

}  // namespace

absl::StatusOr<HfConfig> ParseHfConfig(const std::string& json_text, const std::string& file,
                                       std::optional<ModelKind> kind_hint) {
  const Json root = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a JSON object"));
  }
  ConfigReader r(root, file);
  HfConfig out;
  HfConfigInputs& in = out.inputs;

  const std::optional<std::string> model_type = r.String("model_type");
  if (model_type && *model_type != "videomae") {
    r.Fail(absl::StrCat("model_type is '", *model_type, "', not 'videomae'"));
  }
  const std::optional<ModelKind> arch_kind = KindFromArchitectures(r);
  VMAE_RETURN_IF_ERROR(r.status());
  if (arch_kind) {
    in.kind = *arch_kind;
    out.kind_from_architectures = true;
  } else if (kind_hint) {
    in.kind = *kind_hint;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": 'architectures' names neither ", kPretrainClass, " nor ",
                     kClassifierClass, ", and the tensor names do not say which it is"));
  }

  // Defaults: transformers' VideoMAEConfig.__init__.
  in.image_size = r.Int("image_size", 224);
  in.patch_size = r.Int("patch_size", 16);
  const int64_t channels = r.Int("num_channels", 3);
  in.num_frames = r.Int("num_frames", 16);
  in.tubelet_size = r.Int("tubelet_size", 2);
  in.hidden_size = r.Int("hidden_size", 768);
  in.depth = r.Int("num_hidden_layers", 12);
  in.heads = r.Int("num_attention_heads", 12);
  const int64_t intermediate = r.Int("intermediate_size", 3072);
  out.layer_norm_eps = r.Number("layer_norm_eps", 1e-12);
  const bool qkv_bias = r.Bool("qkv_bias", true);
  in.use_mean_pooling = r.Bool("use_mean_pooling", true);
  in.decoder_heads = r.Int("decoder_num_attention_heads", 6);
  in.decoder_hidden_size = r.Int("decoder_hidden_size", 384);
  in.decoder_depth = r.Int("decoder_num_hidden_layers", 4);
  const int64_t decoder_intermediate = r.Int("decoder_intermediate_size", 1536);
  in.normalize_target = r.Bool("norm_pix_loss", true);
  if (in.kind == ModelKind::kFinetune) {
    ReadLabels(r, in);
  }
  VMAE_RETURN_IF_ERROR(r.status());

  if (channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": num_channels is ", channels, "; only RGB (3) models are supported"));
  }
  if (!qkv_bias) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ": qkv_bias is false; the VideoMAE blocks always have q_bias and v_bias"));
  }
  if (in.hidden_size <= 0 || intermediate <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": hidden_size and intermediate_size must be positive"));
  }
  // One MLP ratio for encoder and decoder (the authors' and our model's).
  in.mlp_ratio = static_cast<double>(intermediate) / static_cast<double>(in.hidden_size);
  if (in.kind == ModelKind::kPretrain &&
      std::llround(in.mlp_ratio * static_cast<double>(in.decoder_hidden_size)) !=
          decoder_intermediate) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": decoder_intermediate_size ", decoder_intermediate, " is not ",
                     in.mlp_ratio, " x decoder_hidden_size ", in.decoder_hidden_size,
                     "; encoder and decoder must share one MLP ratio"));
  }
  absl::StatusOr<ModelDims> dims = DimsFromConfig(in);
  if (!dims.ok()) return Annotate(dims.status(), file);
  out.dims = *dims;
  return out;
}

std::optional<ModelKind> KindFromHfNames(const std::map<std::string, TensorInfo>& tensors) {
  bool pretrain = false;
  bool classifier = false;
  for (const auto& entry : tensors) {
    const std::string& name = entry.first;
    pretrain = pretrain || absl::StartsWith(name, "decoder.") || name == "mask_token" ||
               absl::StartsWith(name, "encoder_to_decoder.");
    classifier =
        classifier || absl::StartsWith(name, "classifier.") || absl::StartsWith(name, "fc_norm.");
  }
  if (pretrain == classifier) return std::nullopt;
  return pretrain ? ModelKind::kPretrain : ModelKind::kFinetune;
}

bool HasHfNames(const std::map<std::string, TensorInfo>& tensors) {
  for (const auto& entry : tensors) {
    if (absl::StartsWith(entry.first, "videomae.")) return true;
  }
  return false;
}

absl::StatusOr<at::Tensor> ReadFloatTensor(const SafetensorsFile& file, const std::string& name,
                                           std::optional<at::ScalarType> dtype) {
  VMAE_ASSIGN_OR_RETURN(const TensorInfo* info, file.Find(name));
  const std::optional<at::ScalarType> type = FloatScalarType(info->dtype);
  if (!type) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": tensor '", name, "' has dtype ", info->dtype,
                     "; model weights must be F32, F16, BF16 or F64"));
  }
  VMAE_ASSIGN_OR_RETURN(const std::string bytes, file.ReadBytes(name));
  at::Tensor t = at::empty(info->shape, at::TensorOptions().dtype(*type));
  if (static_cast<size_t>(t.nbytes()) != bytes.size()) {
    return absl::DataLossError(
        absl::StrCat(file.path(), ": tensor '", name, "' has the wrong byte size"));
  }
  if (!bytes.empty()) {
    std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  }
  if (dtype && *dtype != *type) {
    t = t.to(*dtype);
  }
  return t;
}

absl::StatusOr<HfImport> ImportHfFiles(const std::string& model_path,
                                       const std::string& config_path,
                                       const HfImportOptions& options) {
  HfImport out;
  out.model_path = model_path;
  out.config_path = config_path;
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(model_path);
  if (!file.ok()) {
    return file.status();  // already names the file.
  }
  VMAE_ASSIGN_OR_RETURN(const std::string config_text,
                        ReadSmallFile(config_path,
                                      "a Hugging Face checkpoint needs the config.json that "
                                      "save_pretrained writes next to model.safetensors"));
  VMAE_ASSIGN_OR_RETURN(out.config,
                        ParseHfConfig(config_text, config_path, KindFromHfNames(file->tensors())));

  absl::StatusOr<std::vector<NativeTensorPlan>> plans =
      PlanNativeTensors(file->tensors(), out.config.dims);
  if (!plans.ok()) {
    std::string hint;
    // transformers' VideoMAEForPreTraining builds no final encoder norm when
    // use_mean_pooling is true (its default), but the authors' pre-training
    // model always has one.
    if (out.config.dims.kind == ModelKind::kPretrain && out.config.inputs.use_mean_pooling &&
        file->tensors().count("videomae.layernorm.weight") == 0) {
      hint = absl::StrCat(" (", config_path,
                          " says use_mean_pooling: true, so transformers saved no "
                          "videomae.layernorm; the authors' pre-training model needs it)");
    }
    return absl::Status(plans.status().code(), absl::StrCat(model_path, " (with ", config_path,
                                                            "): ", plans.status().message(), hint));
  }
  std::set<std::string> dtypes;
  for (const auto& entry : file->tensors()) {
    dtypes.insert(entry.second.dtype);
  }
  out.source_dtype = dtypes.size() == 1 ? *dtypes.begin() : "mixed";

  for (const NativeTensorPlan& plan : *plans) {
    std::vector<at::Tensor> parts;
    for (const std::string& hf_name : plan.hf_names) {
      VMAE_ASSIGN_OR_RETURN(at::Tensor part, ReadFloatTensor(*file, hf_name, options.dtype));
      parts.push_back(std::move(part));
    }
    // The fused qkv is [query; key; value] by rows (transformers' convert
    // script splits it as val[:dim], val[dim:2*dim], val[-dim:]).
    at::Tensor t = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
    out.tensors.emplace(plan.native_name, std::move(t));
  }
  return out;
}

absl::StatusOr<HfImport> ImportHf(const std::string& dir, const HfImportOptions& options) {
  const std::filesystem::path base(dir);
  return ImportHfFiles((base / kHfModelFile).string(), (base / kHfConfigFile).string(), options);
}

}  // namespace vmae::checkpoint
