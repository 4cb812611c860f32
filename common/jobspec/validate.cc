#include "common/jobspec/validate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jobspec/jobspec.h"
#include "common/jobspec/nearest_key.h"
#include "common/jobspec/paths.h"

namespace vmae::jobspec::internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxNameLength = 63;
constexpr int kMaxRepeatedAug = 16;

// An interval of allowed values, open or closed at each end.
struct Range {
  double lo;
  bool lo_open;
  double hi;
  bool hi_open;

  bool Contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  }
  std::string Describe(bool integer) const {
    const char* noun = integer ? "an integer" : "a number";
    if (std::isinf(hi)) {
      return absl::StrCat(noun, lo_open ? " > " : " >= ", lo);
    }
    return absl::StrCat(noun, " in ", lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]");
  }
};
Range AtLeast(double lo) { return {lo, false, kInf, true}; }
Range Above(double lo) { return {lo, true, kInf, true}; }
Range Closed(double lo, double hi) { return {lo, false, hi, false}; }
Range HalfOpen(double lo, double hi) { return {lo, false, hi, true}; }  // [lo, hi)
Range Open(double lo, double hi) { return {lo, true, hi, true}; }

// Reports problems; knows which fields are blocked and whom to blame.
class Checker {
 public:
  Checker(const Locator& locate, bool only_user_values, Diagnostics* diagnostics)
      : locate_(locate), only_user_values_(only_user_values), diagnostics_(diagnostics) {}

  // A rule over `paths` is broken. The first path the user wrote is named
  // and located (the value to change), else the first path: a preset value
  // that conflicts with nothing the user wrote cannot happen, but a proto
  // spec has no locations at all.
  void Fail(std::initializer_list<absl::string_view> paths, absl::string_view what,
            absl::string_view expected, absl::string_view suggestion = {}) {
    for (absl::string_view path : paths) {
      if (diagnostics_->IsBlocked(path)) {
        return;
      }
    }
    for (absl::string_view path : paths) {
      const Location location = locate_(path);
      if (location.exact) {
        diagnostics_->Add(location, path, what, expected, suggestion);
        return;
      }
    }
    if (only_user_values_) {
      return;
    }
    const absl::string_view first = *paths.begin();
    diagnostics_->Add(locate_(first), first, what, expected, suggestion);
  }

  // A required value is absent. `from_user` marks values only the user can
  // give (kind, name, data.root...): those are reported even with
  // only_user_values. The others are filled by the recipe in a YAML spec, so
  // they can only be missing from a proto spec or when the kind is unknown.
  void Missing(absl::string_view path, absl::string_view expected, bool from_user = true) {
    if (diagnostics_->IsBlocked(path) || (!from_user && only_user_values_)) {
      return;
    }
    diagnostics_->Add(locate_(path), path, "missing required field", expected);
  }

  void Int(absl::string_view path, int64_t value, const Range& range) {
    if (!range.Contains(static_cast<double>(value))) {
      Fail({path}, absl::StrCat("value ", value, " is out of range"), range.Describe(true));
    }
  }

  void Number(absl::string_view path, double value, const Range& range) {
    if (!std::isfinite(value)) {
      Fail({path}, absl::StrCat("value ", value, " is not finite"), range.Describe(false));
    } else if (!range.Contains(value)) {
      Fail({path}, absl::StrCat("value ", value, " is out of range"), range.Describe(false));
    }
  }

  // A string that must be one of `options`; empty means missing.
  void OneOf(absl::string_view path, const std::string& value,
             const std::vector<std::string>& options, bool from_user = false) {
    const std::string expected = absl::StrJoin(options, "|");
    if (value.empty()) {
      Missing(path, expected, from_user);
      return;
    }
    for (const std::string& option : options) {
      if (value == option) {
        return;
      }
    }
    Fail({path}, absl::StrCat("'", value, "' is not a valid value"), expected,
         NearestKey(value, options).value_or(""));
  }

  // An enum left at *_UNSPECIFIED (or a number this build does not know).
  template <typename E>
  void Enum(absl::string_view path, E value, bool (*is_valid)(int), absl::string_view expected,
            bool from_user = false) {
    if (value == 0) {
      Missing(path, expected, from_user);
    } else if (!is_valid(static_cast<int>(value))) {
      Fail({path}, absl::StrCat("unknown value ", static_cast<int>(value)), expected);
    }
  }

  // `a` must be a multiple of `b`; skipped when either is not positive
  // (that is reported by the field's own range rule).
  void Divisible(absl::string_view a_path, int64_t a, absl::string_view b_path, int64_t b) {
    if (a > 0 && b > 0 && a % b != 0) {
      Fail({a_path, b_path},
           absl::StrCat(a_path, " (", a, ") is not a multiple of ", b_path, " (", b, ")"),
           absl::StrCat(a_path, " divisible by ", b_path));
    }
  }

 private:
  const Locator& locate_;
  const bool only_user_values_;
  Diagnostics* diagnostics_;
};

std::vector<std::string> ArchNames() {
  std::vector<std::string> names;
  for (const ArchPreset& preset : ArchPresets()) {
    names.emplace_back(preset.name);
  }
  names.emplace_back(kCustomArch);
  return names;
}

void CheckName(Checker& c, const std::string& name) {
  constexpr absl::string_view kExpected =
      "1-63 characters of letters, digits, '.', '_' and '-', starting with a letter or digit";
  if (name.empty()) {
    c.Missing("name", kExpected);
    return;
  }
  if (name.size() > static_cast<size_t>(kMaxNameLength)) {
    c.Fail({"name"}, absl::StrCat("is ", name.size(), " characters long"), kExpected);
    return;
  }
  for (char ch : name) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '.' ||
                    ch == '_' || ch == '-';
    if (!ok) {
      c.Fail({"name"}, absl::StrCat("'", name, "' contains '", std::string(1, ch), "'"), kExpected);
      return;
    }
  }
  // A name like ".." or "-x" would be a path or a flag wherever it is used.
  if (!absl::ascii_isalnum(static_cast<unsigned char>(name.front()))) {
    c.Fail({"name"}, absl::StrCat("'", name, "' starts with '", std::string(1, name.front()), "'"),
           kExpected);
  }
}

void CheckModel(Checker& c, const v1::ModelSpec& m, v1::JobKind kind) {
  const bool pretrain = kind == v1::JOB_KIND_PRETRAIN;
  const bool finetune = kind == v1::JOB_KIND_FINETUNE;
  const std::vector<std::string> arches = ArchNames();
  c.OneOf("model.arch", m.arch(), arches, /*from_user=*/true);

  c.Int("model.embed_dim", m.embed_dim(), AtLeast(1));
  c.Int("model.depth", m.depth(), AtLeast(1));
  c.Int("model.num_heads", m.num_heads(), AtLeast(1));
  c.Number("model.mlp_ratio", m.mlp_ratio(), Above(0));
  c.Int("model.patch_size", m.patch_size(), AtLeast(1));
  c.Int("model.tubelet_size", m.tubelet_size(), AtLeast(1));
  c.Int("model.num_frames", m.num_frames(), AtLeast(1));
  c.Int("model.image_size", m.image_size(), AtLeast(1));
  // The decoder exists only in pre-training; fine-tuning ignores its size.
  const Range decoder_range = pretrain ? AtLeast(1) : AtLeast(0);
  c.Int("model.decoder_embed_dim", m.decoder_embed_dim(), decoder_range);
  c.Int("model.decoder_depth", m.decoder_depth(), decoder_range);
  c.Int("model.decoder_num_heads", m.decoder_num_heads(), decoder_range);
  c.Number("model.drop_path", m.drop_path(), HalfOpen(0, 1));
  if (finetune) {
    if (m.num_classes() == 0) {
      c.Missing("model.num_classes", "an integer >= 2 (classes of the fine-tuning head)");
    } else {
      c.Int("model.num_classes", m.num_classes(), AtLeast(2));
    }
    c.Number("model.init_scale", m.init_scale(), Above(0));
  } else {
    c.Int("model.num_classes", m.num_classes(), AtLeast(0));
    c.Number("model.init_scale", m.init_scale(), AtLeast(0));
  }
  c.Number("model.head_dropout", m.head_dropout(), HalfOpen(0, 1));

  c.Divisible("model.num_frames", m.num_frames(), "model.tubelet_size", m.tubelet_size());
  c.Divisible("model.image_size", m.image_size(), "model.patch_size", m.patch_size());
  c.Divisible("model.embed_dim", m.embed_dim(), "model.num_heads", m.num_heads());
  c.Divisible("model.decoder_embed_dim", m.decoder_embed_dim(), "model.decoder_num_heads",
              m.decoder_num_heads());
}

void CheckPretrain(Checker& c, const v1::PretrainSpec& p, const v1::ModelSpec& m) {
  c.Enum("pretrain.mask_type", p.mask_type(), v1::MaskType_IsValid, "tube|random");
  c.Enum("pretrain.decoder_mask_type", p.decoder_mask_type(), v1::DecoderMaskType_IsValid,
         "none|running_cell");
  c.Enum("pretrain.loss", p.loss(), v1::LossType_IsValid, "mse|l1|smooth_l1");
  c.Number("pretrain.mask_ratio", p.mask_ratio(), Open(0, 1));
  c.Number("pretrain.decoder_mask_ratio", p.decoder_mask_ratio(), HalfOpen(0, 1));

  // The masks hide exactly int(ratio x tokens) tokens (tube: per frame), so
  // a ratio can be in (0, 1) and still hide nothing or everything on a
  // small input.
  if (m.patch_size() > 0 && m.tubelet_size() > 0 && m.image_size() % std::max(1, m.patch_size()) == 0 &&
      m.num_frames() % std::max(1, m.tubelet_size()) == 0 && p.mask_ratio() > 0 &&
      p.mask_ratio() < 1) {
    const int64_t side = m.image_size() / m.patch_size();
    const bool tube = p.mask_type() == v1::MASK_TYPE_TUBE;
    const int64_t tokens = side * side * (tube ? 1 : m.num_frames() / m.tubelet_size());
    const int64_t masked = static_cast<int64_t>(p.mask_ratio() * static_cast<double>(tokens));
    if (tokens > 0 && (masked < 1 || masked >= tokens)) {
      c.Fail({"pretrain.mask_ratio", "model.image_size", "model.patch_size"},
             absl::StrCat("mask_ratio ", p.mask_ratio(), " masks ", masked, " of ", tokens,
                          tube ? " tokens per frame" : " tokens"),
             "a mask_ratio that hides at least one token and leaves at least one visible");
    }
  }
}

void CheckFinetune(Checker& c, const v1::FinetuneSpec& f) {
  if (f.init_from().empty()) {
    c.Missing("finetune.init_from", kInitFromExpected);
  } else if (std::string problem; !ClassifyInitFrom(f.init_from(), &problem).has_value()) {
    c.Fail({"finetune.init_from"}, problem, kInitFromExpected);
  }
  c.Number("finetune.layer_decay", f.layer_decay(), {0, true, 1, false});
  c.Number("finetune.mixup", f.mixup(), AtLeast(0));
  c.Number("finetune.cutmix", f.cutmix(), AtLeast(0));
  c.Number("finetune.mixup_prob", f.mixup_prob(), Closed(0, 1));
  c.Number("finetune.mixup_switch_prob", f.mixup_switch_prob(), Closed(0, 1));
  c.Number("finetune.label_smoothing", f.label_smoothing(), HalfOpen(0, 1));
  c.Int("finetune.randaug_magnitude", f.randaug_magnitude(), AtLeast(0));
  c.Int("finetune.randaug_num_ops", f.randaug_num_ops(), AtLeast(0));
  c.Number("finetune.random_erase_prob", f.random_erase_prob(), Closed(0, 1));
  c.Int("finetune.test_clips", f.test_clips(), AtLeast(1));
  c.Int("finetune.test_crops", f.test_crops(), AtLeast(1));
}

void CheckData(Checker& c, const v1::DataSpec& d, v1::JobKind kind) {
  constexpr absl::string_view kRootExpected = "an absolute directory path without '..', e.g. /data/k400";
  constexpr absl::string_view kListExpected =
      "a list file relative to data.root without '..', e.g. train.csv";
  constexpr absl::string_view kValExpected =
      "a list file relative to data.root without '..', e.g. val.csv";
  if (d.root().empty()) {
    c.Missing("data.root", kRootExpected);
  } else if (std::string problem = AbsolutePathProblem(d.root()); !problem.empty()) {
    c.Fail({"data.root"}, problem, kRootExpected);
  }
  if (d.train().empty()) {
    c.Missing("data.train", kListExpected);
  } else if (std::string problem = RelativePathProblem(d.train()); !problem.empty()) {
    c.Fail({"data.train"}, problem, kListExpected);
  }
  if (d.val().empty()) {
    if (kind == v1::JOB_KIND_FINETUNE) {
      c.Missing("data.val", absl::StrCat(kValExpected, " (fine-tuning is evaluated on it)"));
    }
  } else if (std::string problem = RelativePathProblem(d.val()); !problem.empty()) {
    c.Fail({"data.val"}, problem, kValExpected);
  }
  c.OneOf("data.sampling", d.sampling(), {"stride", "dense", "segment"});
  c.Int("data.sampling_rate", d.sampling_rate(), AtLeast(1));
  c.Int("data.repeated_aug", d.repeated_aug(), Closed(1, kMaxRepeatedAug));
  c.Int("data.decode_threads", d.decode_threads(), AtLeast(1));
  c.Number("data.max_bad_fraction", d.max_bad_fraction(), Closed(0, 1));
  c.Number("data.clip_timeout_seconds", d.clip_timeout_seconds(), Above(0));
}

void CheckOptimizer(Checker& c, const v1::OptimizerSpec& o, const v1::ResourceSpec& r) {
  c.Number("optimizer.base_lr", o.base_lr(), AtLeast(0));
  c.Number("optimizer.lr", o.lr(), AtLeast(0));
  c.Number("optimizer.min_lr", o.min_lr(), AtLeast(0));
  if (o.lr() == 0 && o.base_lr() == 0) {
    c.Fail({"optimizer.base_lr", "optimizer.lr"}, "base_lr and lr are both 0",
           "optimizer.base_lr > 0, or an absolute optimizer.lr > 0");
  } else if (o.lr() > 0) {
    // min_lr is per 256 videos like base_lr; compare at the real batch.
    const double global_batch = static_cast<double>(o.batch_size()) * r.workers();
    const double min_absolute = o.min_lr() * global_batch / 256.0;
    if (global_batch > 0 && min_absolute > o.lr()) {
      c.Fail({"optimizer.min_lr", "optimizer.lr"},
             absl::StrCat("min_lr ", o.min_lr(), " (", min_absolute, " at global batch ",
                          global_batch, ") is above lr ", o.lr()),
             "optimizer.min_lr not above the peak learning rate");
    }
  } else if (o.min_lr() > o.base_lr() && o.base_lr() > 0) {
    c.Fail({"optimizer.min_lr", "optimizer.base_lr"},
           absl::StrCat("min_lr ", o.min_lr(), " is above base_lr ", o.base_lr()),
           "optimizer.min_lr <= optimizer.base_lr");
  }
  if (o.betas_size() != 2) {
    c.Fail({"optimizer.betas"},
           absl::StrCat("has ", o.betas_size(), o.betas_size() == 1 ? " value" : " values"),
           "exactly 2 values [beta1, beta2], each in [0, 1)");
  } else {
    for (int i = 0; i < 2; ++i) {
      c.Number(absl::StrCat("optimizer.betas[", i, "]"), o.betas(i), HalfOpen(0, 1));
    }
  }
  c.Number("optimizer.eps", o.eps(), Above(0));
  c.Number("optimizer.weight_decay", o.weight_decay(), AtLeast(0));
  c.Number("optimizer.warmup_epochs", o.warmup_epochs(), AtLeast(0));
  c.Int("optimizer.epochs", o.epochs(), AtLeast(1));
  c.Number("optimizer.clip_grad", o.clip_grad(), AtLeast(0));
  c.Int("optimizer.batch_size", o.batch_size(), AtLeast(1));
  if (o.epochs() >= 1 && o.warmup_epochs() > o.epochs()) {
    c.Fail({"optimizer.warmup_epochs", "optimizer.epochs"},
           absl::StrCat("warmup_epochs (", o.warmup_epochs(), ") is longer than epochs (",
                        o.epochs(), ")"),
           "optimizer.warmup_epochs <= optimizer.epochs");
  }
}

void CheckResources(Checker& c, const v1::ResourceSpec& r) {
  c.Int("resources.workers", r.workers(), AtLeast(1));
  if (r.workers() >= 1 && (r.min_workers() < 1 || r.min_workers() > r.workers())) {
    c.Fail({"resources.min_workers", "resources.workers"},
           absl::StrCat("min_workers ", r.min_workers(), " is not between 1 and workers (",
                        r.workers(), ")"),
           "1 <= resources.min_workers <= resources.workers");
  }
  c.OneOf("resources.device", r.device(), {"cuda", "cpu"});
  c.OneOf("resources.precision", r.precision(), {"bf16", "fp16", "fp32"});
  if (r.device() == "cpu" && (r.precision() == "bf16" || r.precision() == "fp16")) {
    c.Fail({"resources.precision", "resources.device"},
           absl::StrCat("precision ", r.precision(), " with device cpu"),
           "fp32: use fp32 on cpu (bf16 and fp16 need cuda)");
  }
  c.Int("resources.max_restarts", r.max_restarts(), AtLeast(0));
  for (const auto& [key, value] : r.selector()) {
    if (key.empty()) {
      c.Fail({"resources.selector"}, "has an empty label name", "label: value pairs, e.g. gpu: h100");
    }
  }
}

}  // namespace

void CheckSpec(const v1::JobSpec& spec, const Locator& locate, bool only_user_values,
               Diagnostics* diagnostics) {
  Checker c(locate, only_user_values, diagnostics);
  const v1::JobKind kind = spec.kind();
  c.Enum("kind", kind, v1::JobKind_IsValid, "pretrain|finetune", /*from_user=*/true);
  CheckName(c, spec.name());
  c.Int("seed", spec.seed(), AtLeast(0));

  // The other kind's section would be silently ignored: most likely the
  // kind or the section is a mistake, so say which.
  if (kind == v1::JOB_KIND_FINETUNE && spec.has_pretrain()) {
    c.Fail({"pretrain"}, "a pretrain: section in a finetune job",
           "no pretrain: section with kind finetune (or kind: pretrain)");
  }
  if (kind == v1::JOB_KIND_PRETRAIN && spec.has_finetune()) {
    c.Fail({"finetune"}, "a finetune: section in a pretrain job",
           "no finetune: section with kind pretrain (or kind: finetune)");
  }

  CheckModel(c, spec.model(), kind);
  if (kind == v1::JOB_KIND_PRETRAIN) {
    CheckPretrain(c, spec.pretrain(), spec.model());
  }
  if (kind == v1::JOB_KIND_FINETUNE) {
    CheckFinetune(c, spec.finetune());
  }
  CheckData(c, spec.data(), kind);
  CheckOptimizer(c, spec.optimizer(), spec.resources());
  c.Int("checkpoint.every_steps", spec.checkpoint().every_steps(), AtLeast(1));
  c.Int("checkpoint.keep_last", spec.checkpoint().keep_last(), AtLeast(1));
  c.Int("eval.every_epochs", spec.eval().every_epochs(), AtLeast(0));
  CheckResources(c, spec.resources());
}

}  // namespace vmae::jobspec::internal
