#include "worker/checkpoint/native/native_checkpoint.h"

#include <c10/util/string_utils.h>
#include <torch/nn/module.h>
#include <torch/optim/adamw.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/atomic_file.h"
#include "common/checkpoint/safetensors.h"
#include "nlohmann/json.hpp"
#include "worker/checkpoint/safetensors_dtype.h"

namespace vmae::checkpoint {
namespace {

constexpr char kOptimizerPrefix[] = "optimizer.";
constexpr char kExpAvg[] = "exp_avg.";
constexpr char kExpAvgSq[] = "exp_avg_sq.";
constexpr char kMaxExpAvgSq[] = "max_exp_avg_sq.";
constexpr char kStep[] = "step.";
// Names listed per category in an error message.
constexpr size_t kMaxListed = 32;

std::string JoinPath(const std::string& dir, const char* name) {
  return (std::filesystem::path(dir) / name).string();
}

std::optional<c10::ScalarType> TorchDtype(const std::string& dtype) {
  if (dtype == "F64") return c10::ScalarType::Double;
  if (dtype == "F32") return c10::ScalarType::Float;
  if (dtype == "BF16") return c10::ScalarType::BFloat16;
  if (dtype == "F16") return c10::ScalarType::Half;
  if (dtype == "I64") return c10::ScalarType::Long;
  if (dtype == "I32") return c10::ScalarType::Int;
  return std::nullopt;
}

bool IsKind(const std::string& kind) { return kind == "pretrain" || kind == "finetune"; }

// A contiguous CPU copy of `t` as raw bytes (little-endian host).
std::string TensorBytes(const torch::Tensor& t) {
  torch::Tensor cpu = t.detach().to(torch::kCPU).contiguous();
  return std::string(static_cast<const char*>(cpu.data_ptr()),
                     static_cast<size_t>(cpu.nbytes()));
}

// Adds `t` under `name`; INVALID_ARGUMENT for a dtype safetensors (here) lacks.
absl::Status AddTensor(SafetensorsWriter& writer, const std::string& name, const torch::Tensor& t,
                       const std::string& file) {
  std::optional<std::string> dtype = SafetensorsDtype(t.scalar_type());
  if (!dtype) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": tensor '", name, "' has dtype ",
                                                   c10::toString(t.scalar_type()),
                                                   ", which native checkpoints do not store"));
  }
  writer.Add(name, *dtype, t.sizes().vec(), TensorBytes(t));
  return absl::OkStatus();
}

// Names of the model's parameters by TensorImpl (what LibTorch keys the
// optimizer state by).
std::unordered_map<const c10::TensorImpl*, std::string> NamesByImpl(
    const torch::nn::Module& model) {
  std::unordered_map<const c10::TensorImpl*, std::string> names;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    names.emplace(item.value().unsafeGetTensorImpl(), item.key());
  }
  return names;
}

std::string StateKey(const torch::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

void AppendList(std::vector<std::string>& parts, const char* what,
                const std::vector<std::string>& names) {
  if (names.empty()) return;
  std::vector<std::string> shown(names.begin(),
                                 names.begin() + static_cast<long>(std::min(names.size(), kMaxListed)));
  std::string part = absl::StrCat(what, " (", names.size(), "): ", absl::StrJoin(shown, ", "));
  if (names.size() > kMaxListed) absl::StrAppend(&part, ", ...");
  parts.push_back(std::move(part));
}

// Reads tensor `name` of `file` as a CPU tensor of the file's dtype.
absl::StatusOr<torch::Tensor> ReadTensor(const SafetensorsFile& file, const std::string& name) {
  absl::StatusOr<const TensorInfo*> info = file.Find(name);
  if (!info.ok()) return info.status();
  std::optional<c10::ScalarType> type = TorchDtype((*info)->dtype);
  if (!type) {
    return absl::InvalidArgumentError(absl::StrCat(file.path(), ": tensor '", name,
                                                   "' has unsupported dtype ", (*info)->dtype));
  }
  absl::StatusOr<std::string> bytes = file.ReadBytes(name);
  if (!bytes.ok()) return bytes.status();
  torch::Tensor t = torch::empty((*info)->shape, torch::TensorOptions().dtype(*type));
  if (static_cast<size_t>(t.nbytes()) != bytes->size()) {
    return absl::DataLossError(
        absl::StrCat(file.path(), ": tensor '", name, "' has the wrong byte size"));
  }
  if (!bytes->empty()) std::memcpy(t.data_ptr(), bytes->data(), bytes->size());
  return t;
}

// Reads a JSON field, with typed errors naming the file and the field.
class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  const nlohmann::ordered_json* Field(const nlohmann::ordered_json& obj, const std::string& path,
                              const char* key) {
    if (!obj.is_object() || !obj.contains(key)) {
      Fail(absl::StrCat("missing field '", path, key, "'"));
      return nullptr;
    }
    return &obj.at(key);
  }
  int64_t Int(const nlohmann::ordered_json& obj, const std::string& path, const char* key) {
    const nlohmann::ordered_json* v = Field(obj, path, key);
    if (v == nullptr) return 0;
    if (!v->is_number_integer()) {
      Fail(absl::StrCat("field '", path, key, "' is not an integer"));
      return 0;
    }
    return v->get<int64_t>();
  }
  std::string String(const nlohmann::ordered_json& obj, const std::string& path, const char* key) {
    const nlohmann::ordered_json* v = Field(obj, path, key);
    if (v == nullptr) return "";
    if (!v->is_string()) {
      Fail(absl::StrCat("field '", path, key, "' is not a string"));
      return "";
    }
    return v->get<std::string>();
  }
  const nlohmann::ordered_json& Object(const nlohmann::ordered_json& obj, const std::string& path,
                               const char* key) {
    static const nlohmann::ordered_json* const kEmpty = new nlohmann::ordered_json(nlohmann::ordered_json::object());
    const nlohmann::ordered_json* v = Field(obj, path, key);
    if (v == nullptr) return *kEmpty;
    if (!v->is_object()) {
      Fail(absl::StrCat("field '", path, key, "' is not an object"));
      return *kEmpty;
    }
    return *v;
  }
  void Fail(std::string message) {
    if (status_.ok()) status_ = absl::InvalidArgumentError(absl::StrCat(file_, ": ", message));
  }
  const absl::Status& status() const { return status_; }

 private:
  std::string file_;
  absl::Status status_;
};

}  // namespace

absl::StatusOr<std::string> NativeManifestToJson(const NativeManifest& m) {
  if (!IsKind(m.kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest kind must be pretrain or finetune, got '", m.kind, "'"));
  }
  nlohmann::ordered_json job_spec = nullptr;
  if (!m.job_spec_json.empty()) {
    job_spec = nlohmann::ordered_json::parse(m.job_spec_json, nullptr, /*allow_exceptions=*/false);
    if (job_spec.is_discarded()) {
      return absl::InvalidArgumentError("manifest job_spec is not valid JSON");
    }
  }
  nlohmann::ordered_json j;
  j["format_version"] = m.format_version;
  j["kind"] = m.kind;
  j["step"] = m.step;
  j["samples_seen"] = m.samples_seen;
  j["data_cursor"] = {{"epoch", m.data_cursor.epoch}, {"position", m.data_cursor.position}};
  j["schedule"] = {{"samples_seen", m.schedule.samples_seen},
                   {"optimizer_step", m.schedule.optimizer_step}};
  j["job_spec"] = std::move(job_spec);
  j["provenance"] = {{"version", m.provenance.version},
                     {"git_hash", m.provenance.git_hash},
                     {"data_list_sha256", m.provenance.data_list_sha256},
                     {"data_list_length", m.provenance.data_list_length}};
  return j.dump(2) + "\n";
}

absl::StatusOr<NativeManifest> ParseNativeManifest(const std::string& json_text,
                                                   const std::string& file) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": not a JSON object"));
  }
  JsonReader r(file);
  NativeManifest m;
  m.format_version = r.Int(j, "", "format_version");
  if (r.status().ok() && m.format_version > kNativeFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        file, ": format_version ", m.format_version, " is newer than this build reads (",
        kNativeFormatVersion, ")"));
  }
  m.kind = r.String(j, "", "kind");
  if (r.status().ok() && !IsKind(m.kind)) {
    r.Fail(absl::StrCat("kind must be pretrain or finetune, got '", m.kind, "'"));
  }
  m.step = r.Int(j, "", "step");
  m.samples_seen = r.Int(j, "", "samples_seen");
  const nlohmann::ordered_json& cursor = r.Object(j, "", "data_cursor");
  m.data_cursor.epoch = r.Int(cursor, "data_cursor.", "epoch");
  m.data_cursor.position = r.Int(cursor, "data_cursor.", "position");
  const nlohmann::ordered_json& schedule = r.Object(j, "", "schedule");
  m.schedule.samples_seen = r.Int(schedule, "schedule.", "samples_seen");
  m.schedule.optimizer_step = r.Int(schedule, "schedule.", "optimizer_step");
  const nlohmann::ordered_json* job_spec = r.Field(j, "", "job_spec");
  m.job_spec_json = (job_spec == nullptr || job_spec->is_null()) ? "" : job_spec->dump();
  const nlohmann::ordered_json& prov = r.Object(j, "", "provenance");
  m.provenance.version = r.String(prov, "provenance.", "version");
  m.provenance.git_hash = r.String(prov, "provenance.", "git_hash");
  m.provenance.data_list_sha256 = r.String(prov, "provenance.", "data_list_sha256");
  m.provenance.data_list_length = r.Int(prov, "provenance.", "data_list_length");
  if (!r.status().ok()) return r.status();
  return m;
}

absl::Status SaveNative(const std::string& dir, const torch::nn::Module& model,
                        const train::GroupedAdamW* opt, const NativeManifest& manifest) {
  const std::string model_path = JoinPath(dir, kNativeModelFile);
  const std::string manifest_path = JoinPath(dir, kNativeManifestFile);
  absl::StatusOr<std::string> manifest_json = NativeManifestToJson(manifest);
  if (!manifest_json.ok()) {
    return absl::Status(manifest_json.status().code(),
                        absl::StrCat(manifest_path, ": ", manifest_json.status().message()));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create checkpoint directory ", dir, ": ", ec.message()));
  }

  SafetensorsWriter writer;
  writer.SetMetadata("vmae.kind", manifest.kind);
  writer.SetMetadata("format_version", std::to_string(kNativeFormatVersion));
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& p = item.value();
    if (!p.is_floating_point()) {
      return absl::InvalidArgumentError(absl::StrCat(model_path, ": parameter '", item.key(),
                                                     "' is not floating point"));
    }
    absl::Status s = AddTensor(writer, item.key(), p, model_path);
    if (!s.ok()) return s;
  }
  if (opt != nullptr) {
    const auto names = NamesByImpl(model);
    const auto& state = opt->adamw().state();
    for (const auto& group : opt->adamw().param_groups()) {
      for (const torch::Tensor& p : group.params()) {
        auto name_it = names.find(p.unsafeGetTensorImpl());
        if (name_it == names.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              model_path, ": an optimizer parameter of shape ", c10::str(p.sizes()),
              " is not a parameter of the model"));
        }
        auto it = state.find(StateKey(p));
        if (it == state.end()) continue;  // never stepped: no state yet.
        const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
        const std::string& name = name_it->second;
        const std::string prefix = kOptimizerPrefix;
        absl::Status s = AddTensor(writer, prefix + kExpAvg + name, st.exp_avg(), model_path);
        if (s.ok()) s = AddTensor(writer, prefix + kExpAvgSq + name, st.exp_avg_sq(), model_path);
        if (s.ok() && st.max_exp_avg_sq().defined()) {
          s = AddTensor(writer, prefix + kMaxExpAvgSq + name, st.max_exp_avg_sq(), model_path);
        }
        if (!s.ok()) return s;
        const int64_t step = st.step();
        std::string step_bytes(sizeof(step), '\0');
        std::memcpy(step_bytes.data(), &step, sizeof(step));
        writer.Add(prefix + kStep + name, "I64", {}, std::move(step_bytes));
      }
    }
  }
  absl::Status s = writer.WriteAtomically(model_path);
  if (!s.ok()) return s;
  s = WriteFileAtomically(manifest_path, *manifest_json);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat(manifest_path, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<NativeManifest> LoadNative(const std::string& dir, torch::nn::Module& model,
                                          train::GroupedAdamW* opt) {
  const std::string model_path = JoinPath(dir, kNativeModelFile);
  const std::string manifest_path = JoinPath(dir, kNativeManifestFile);

  // The manifest.
  std::string manifest_text;
  {
    std::error_code ec;
    const auto size = std::filesystem::file_size(manifest_path, ec);
    if (ec) {
      return absl::NotFoundError(absl::StrCat("cannot read ", manifest_path, ": ", ec.message()));
    }
    if (size > (uint64_t{64} << 20)) {
      return absl::InvalidArgumentError(absl::StrCat(manifest_path, ": larger than 64 MiB"));
    }
    std::FILE* f = std::fopen(manifest_path.c_str(), "rb");
    if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", manifest_path));
    manifest_text.resize(static_cast<size_t>(size));
    const size_t got = std::fread(manifest_text.data(), 1, manifest_text.size(), f);
    std::fclose(f);
    if (got != manifest_text.size()) {
      return absl::DataLossError(absl::StrCat(manifest_path, ": short read"));
    }
  }
  absl::StatusOr<NativeManifest> manifest = ParseNativeManifest(manifest_text, manifest_path);
  if (!manifest.ok()) return manifest.status();

  // The tensors.
  absl::StatusOr<SafetensorsFile> file = SafetensorsFile::Open(model_path);
  if (!file.ok()) return file.status();
  auto kind_it = file->metadata().find("vmae.kind");
  if (kind_it != file->metadata().end() && kind_it->second != manifest->kind) {
    return absl::FailedPreconditionError(
        absl::StrCat(model_path, ": vmae.kind is '", kind_it->second, "' but ", manifest_path,
                     " says '", manifest->kind, "'"));
  }

  std::vector<std::string> missing, unexpected, mismatched;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> param_copies;  // (param, loaded)
  std::map<std::string, torch::Tensor> params_by_name;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    params_by_name.emplace(item.key(), item.value());
  }
  for (const auto& [name, p] : params_by_name) {
    auto it = file->tensors().find(name);
    if (it == file->tensors().end()) {
      missing.push_back(name);
      continue;
    }
    const TensorInfo& info = it->second;
    if (info.shape != p.sizes().vec()) {
      mismatched.push_back(absl::StrCat(name, " (file ", ShapeToString(info.shape), ", model ",
                                        ShapeToString(p.sizes().vec()), ")"));
      continue;
    }
    if (!IsFloatingDtype(info.dtype)) {
      mismatched.push_back(absl::StrCat(name, " (dtype ", info.dtype, " is not floating point)"));
      continue;
    }
    absl::StatusOr<torch::Tensor> t = ReadTensor(*file, name);
    if (!t.ok()) return t.status();
    param_copies.emplace_back(p, *std::move(t));
  }

  // Optimizer entries: per parameter name, the tensors found.
  struct OptEntry {
    std::optional<torch::Tensor> exp_avg, exp_avg_sq, max_exp_avg_sq;
    std::optional<int64_t> step;
  };
  std::map<std::string, OptEntry> opt_entries;
  for (const auto& [name, info] : file->tensors()) {
    if (!absl::StartsWith(name, kOptimizerPrefix)) {
      if (params_by_name.count(name) == 0) unexpected.push_back(name);
      continue;
    }
    if (opt == nullptr) continue;
    const std::string rest = name.substr(std::strlen(kOptimizerPrefix));
    const char* kinds[] = {kExpAvg, kExpAvgSq, kMaxExpAvgSq, kStep};
    const char* kind = nullptr;
    for (const char* k : kinds) {
      if (absl::StartsWith(rest, k)) kind = k;
    }
    if (kind == nullptr) continue;  // scalar state from other writers: ignored.
    const std::string pname = rest.substr(std::strlen(kind));
    auto pit = params_by_name.find(pname);
    if (pit == params_by_name.end()) {
      unexpected.push_back(name);
      continue;
    }
    OptEntry& entry = opt_entries[pname];
    if (kind == kStep) {
      int64_t count = 1;
      for (int64_t d : info.shape) count *= d;
      if (count != 1 || !(info.dtype == "I64" || info.dtype == "I32" || info.dtype == "F64" ||
                          info.dtype == "F32")) {
        mismatched.push_back(absl::StrCat(name, " (a step must be one I64/I32/F64/F32 value, got ",
                                          info.dtype, " ", ShapeToString(info.shape), ")"));
        continue;
      }
      absl::StatusOr<torch::Tensor> t = ReadTensor(*file, name);
      if (!t.ok()) return t.status();
      const double v = t->to(torch::kDouble).item<double>();
      const auto step = static_cast<int64_t>(v);
      if (v < 0 || static_cast<double>(step) != v) {
        mismatched.push_back(absl::StrCat(name, " (step ", v, " is not a non-negative integer)"));
        continue;
      }
      entry.step = step;
      continue;
    }
    if (info.shape != pit->second.sizes().vec()) {
      mismatched.push_back(absl::StrCat(name, " (file ", ShapeToString(info.shape),
                                        ", parameter ",
                                        ShapeToString(pit->second.sizes().vec()), ")"));
      continue;
    }
    if (!IsFloatingDtype(info.dtype)) {
      mismatched.push_back(absl::StrCat(name, " (dtype ", info.dtype, " is not floating point)"));
      continue;
    }
    absl::StatusOr<torch::Tensor> t = ReadTensor(*file, name);
    if (!t.ok()) return t.status();
    if (kind == kExpAvg) entry.exp_avg = *t;
    if (kind == kExpAvgSq) entry.exp_avg_sq = *t;
    if (kind == kMaxExpAvgSq) entry.max_exp_avg_sq = *t;
  }

  // Which optimizer parameter gets which state.
  struct OptRestore {
    torch::Tensor param;
    const OptEntry* entry;  // null: no state.
    bool amsgrad;
  };
  std::vector<OptRestore> restores;
  if (opt != nullptr) {
    const auto names = NamesByImpl(model);
    std::map<std::string, bool> in_optimizer;
    for (auto& group : opt->adamw().param_groups()) {
      const bool amsgrad =
          static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad();
      for (const torch::Tensor& p : group.params()) {
        auto nit = names.find(p.unsafeGetTensorImpl());
        if (nit == names.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              model_path, ": an optimizer parameter of shape ", c10::str(p.sizes()),
              " is not a parameter of the model"));
        }
        in_optimizer[nit->second] = true;
        auto eit = opt_entries.find(nit->second);
        if (eit == opt_entries.end()) {
          restores.push_back({p, nullptr, amsgrad});
          continue;
        }
        const OptEntry& e = eit->second;
        if (!e.exp_avg) missing.push_back(absl::StrCat(kOptimizerPrefix, kExpAvg, nit->second));
        if (!e.exp_avg_sq) {
          missing.push_back(absl::StrCat(kOptimizerPrefix, kExpAvgSq, nit->second));
        }
        if (!e.step) missing.push_back(absl::StrCat(kOptimizerPrefix, kStep, nit->second));
        if (amsgrad && !e.max_exp_avg_sq) {
          missing.push_back(absl::StrCat(kOptimizerPrefix, kMaxExpAvgSq, nit->second));
        }
        restores.push_back({p, &e, amsgrad});
      }
    }
    for (const auto& [pname, entry] : opt_entries) {
      (void)entry;
      if (in_optimizer.count(pname) == 0) {
        unexpected.push_back(absl::StrCat(kOptimizerPrefix, "*.", pname,
                                          " (the parameter is not in the optimizer)"));
      }
    }
  }

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::vector<std::string> parts;
    AppendList(parts, "missing", missing);
    AppendList(parts, "unexpected", unexpected);
    AppendList(parts, "mismatched", mismatched);
    return absl::InvalidArgumentError(absl::StrCat(
        model_path, " does not match the model: ", absl::StrJoin(parts, "; ")));
  }

  // Everything checked: apply.
  torch::NoGradGuard no_grad;
  for (auto& [p, loaded] : param_copies) p.copy_(loaded);
  if (opt != nullptr) {
    auto& state = opt->adamw().state();
    for (const OptRestore& r : restores) {
      const std::string key = StateKey(r.param);
      if (r.entry == nullptr) {
        state.erase(key);
        continue;
      }
      auto like = [&](const torch::Tensor& src) {
        torch::Tensor t = torch::empty_like(r.param.detach(), at::MemoryFormat::Preserve);
        t.copy_(src);
        return t;
      };
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->step(*r.entry->step);
      st->exp_avg(like(*r.entry->exp_avg));
      st->exp_avg_sq(like(*r.entry->exp_avg_sq));
      if (r.amsgrad) st->max_exp_avg_sq(like(*r.entry->max_exp_avg_sq));
      state[key] = std::move(st);
    }
  }
  return manifest;
}

}  // namespace vmae::checkpoint
