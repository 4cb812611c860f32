#include "worker/trainer/trainer.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "worker/data/bad_sample.h"
#include "worker/data/loader/batch_tensor.h"
#include "worker/data/loader/clip_loader.h"
#include "worker/data/loader/mask_seed.h"
#include "worker/data/loader/recipe_from_spec.h"
#include "worker/data/manifest/manifest.h"
#include "worker/dist/grad_reducer.h"
#include "worker/dist/process_group.h"
#include "worker/model/masking.h"
#include "worker/model/options.h"
#include "worker/tool/model_from_spec.h"
#include "worker/tool/tensor_file.h"
#include "worker/train/classification_loss.h"
#include "worker/train/mixup.h"
#include "worker/trainer/batch_plan.h"
#include "worker/trainer/checkpoints.h"
#include "worker/trainer/evaluation.h"
#include "worker/trainer/grad_sync.h"
#include "worker/trainer/model_setup.h"
#include "worker/trainer/stop_signal.h"

namespace vmae::trainer {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

absl::StatusOr<at::Device> ParseDevice(const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--device ", name, ": this vmae has no CUDA or the machine no GPU; run the job with "
          "resources.device: cpu or on a GPU agent"));
    }
    try {
      return at::Device(name);
    } catch (const c10::Error&) {
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--device must be cpu or cuda:N, got '", name, "'"));
}

std::string DataRoot(const TrainerOptions& o) {
  const std::string& root = o.spec.data().root();
  if (o.data_root.empty() || fs::path(root).is_absolute()) return root;
  return (fs::path(o.data_root) / root).lexically_normal().string();
}

// The encoder (and decoder) masks of a pre-training micro-batch: one per
// clip, drawn from (seed, epoch, sample, view) alone, so a clip gets the
// same mask whichever rank reads it, at any world size.
std::pair<at::Tensor, at::Tensor> PretrainMasks(const v1::JobSpec& spec,
                                                const model::TokenGrid& grid, uint64_t seed,
                                                uint64_t epoch, const at::Tensor& samples,
                                                const at::Tensor& views) {
  const v1::PretrainSpec& p = spec.pretrain();
  std::vector<at::Tensor> masks;
  std::vector<at::Tensor> decoder_masks;
  const bool running_cell = p.decoder_mask_type() == v1::DECODER_MASK_TYPE_RUNNING_CELL;
  for (int64_t i = 0; i < samples.size(0); ++i) {
    const uint64_t mask_seed = data::MaskSeed(seed, epoch, samples[i].item<int64_t>(),
                                              views[i].item<int32_t>());
    masks.push_back(p.mask_type() == v1::MASK_TYPE_RANDOM
                        ? model::RandomMask(grid.Size(), p.mask_ratio(), mask_seed)
                        : model::TubeMask(grid.t, grid.h, grid.w, p.mask_ratio(), mask_seed));
    if (running_cell) {
      // A second, independent stream for the decoder's cells.
      decoder_masks.push_back(model::RunningCellDecoderMask(
          grid.t, grid.h, grid.w, p.decoder_mask_ratio(), mask_seed ^ 0x9E3779B97F4A7C15ULL));
    }
  }
  return {torch::stack(masks),
          running_cell ? torch::stack(decoder_masks) : at::Tensor()};
}

std::string ParameterDigest(const TrainingModel& model) {
  Sha256 hash;
  for (const at::Tensor& p : model.parameters()) {
    const at::Tensor c = p.detach().to(at::kCPU).contiguous();
    hash.Update(absl::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes()));
  }
  return hash.HexDigest();
}

absl::Status WriteGradDump(const std::string& path, const TrainingModel& model) {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& p : model.parameters()) {
    flat.push_back(p.grad().defined() ? p.grad().detach().to(at::kCPU).flatten()
                                      : torch::zeros({p.numel()}));
  }
  return tool::WriteTensorFile(path, torch::cat(flat));
}

// Where the run stands: the global cursor of the design's data plan.
struct Position {
  int64_t step = 0;
  int64_t samples_seen = 0;
  int64_t epoch = 0;
  int64_t cursor = 0;  // entries of `epoch` consumed by all ranks
};

class Run {
 public:
  Run(const TrainerOptions& options, EventWriter& events)
      : o_(options), spec_(options.spec), events_(events) {
    log_.job = options.job_id;
    log_.rank = options.rank;
    log_.attempt = options.attempt;
  }

  absl::Status Execute();

 private:
  void Log(LogLevel level, const std::string& message) { LogLine(level, log_, message); }
  absl::Status Setup();
  absl::Status TrainStep(data::HostBatch batch, double data_seconds,
                         Clock::time_point step_start);
  absl::Status Checkpoint(const std::string& reason, double val_top1);
  absl::Status MaybeEvaluate(bool test, double* top1);
  // Bad samples this rank's loader found since the last step, by kind.
  std::vector<double> NewDataErrors();

  const TrainerOptions& o_;
  const v1::JobSpec& spec_;
  EventWriter& events_;
  LogContext log_;
  at::Device device_{at::kCPU};
  std::vector<data::ManifestEntry> train_entries_;
  std::vector<data::ManifestEntry> val_entries_;
  BatchPlan plan_;
  TrainingModel model_;
  std::optional<train::GroupedAdamW> optimizer_;
  std::optional<train::TrainSchedule> schedule_;
  std::unique_ptr<train::TrainStepper> stepper_;
  std::unique_ptr<dist::ProcessGroup> group_;
  std::unique_ptr<dist::GradReducer> reducer_;
  std::unique_ptr<ReducerSync> sync_;
  std::optional<train::Mixup> mixup_;
  train::ClassificationLossOptions loss_options_;
  std::unique_ptr<data::ClipLoader> loader_;
  data::ClipRecipe recipe_;
  model::TokenGrid grid_;  // the model's token grid, for the masks
  Position pos_;
  int64_t total_steps_ = 0;
  std::optional<int64_t> restored_step_;
  int64_t last_checkpoint_step_ = -1;
  double best_top1_ = -1.0;
  std::array<int64_t, std::size(data::kAllBadSampleKinds)> reported_errors_{};
  std::ofstream sample_log_;
};

absl::Status Run::Setup() {
  VMAE_ASSIGN_OR_RETURN(device_, ParseDevice(o_.device));
  at::set_num_threads(std::max(1, o_.threads));
  const std::string root = DataRoot(o_);
  VMAE_ASSIGN_OR_RETURN(train_entries_, data::ReadManifest(root, spec_.data().train()));
  if (!spec_.data().val().empty() && spec_.kind() == v1::JOB_KIND_FINETUNE) {
    VMAE_ASSIGN_OR_RETURN(val_entries_, data::ReadManifest(root, spec_.data().val()));
  }
  VMAE_ASSIGN_OR_RETURN(plan_, PlanBatches(spec_.optimizer().batch_size(),
                                           std::max(1, spec_.resources().workers()),
                                           o_.world_size,
                                           static_cast<int64_t>(train_entries_.size())));
  total_steps_ = plan_.steps_per_epoch * spec_.optimizer().epochs();

  VMAE_ASSIGN_OR_RETURN(model_, BuildModel(spec_, device_));
  grid_ = model::GridOf(tool::ModelOptionsFromSpec(spec_.model()));
  if (!o_.init_from_dir.empty()) {
    if (model_.pretrain) {
      return absl::InvalidArgumentError(
          "--init-from is for fine-tuning jobs; a pre-training job starts from scratch or "
          "resumes (--resume)");
    }
    std::string summary;
    VMAE_RETURN_IF_ERROR(InitClassifierFrom(o_.init_from_dir, model_.classifier, &summary));
    Log(LogLevel::kInfo, summary);
  }
  VMAE_ASSIGN_OR_RETURN(train::GroupedAdamW opt, BuildOptimizer(spec_, model_));
  optimizer_.emplace(std::move(opt));
  VMAE_ASSIGN_OR_RETURN(train::TrainSchedule schedule, BuildSchedule(spec_, plan_));
  schedule_.emplace(std::move(schedule));
  VMAE_ASSIGN_OR_RETURN(train::StepOptions step_options, BuildStepOptions(spec_, plan_));

  if (!o_.resume_dir.empty()) {
    VMAE_ASSIGN_OR_RETURN(checkpoint::NativeManifest m,
                          checkpoint::LoadNative(o_.resume_dir, model_.module(), &*optimizer_));
    if (m.data_cursor.position % plan_.global_batch != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", o_.resume_dir, " stopped at cursor ", m.data_cursor.position,
          ", not a multiple of the global batch ", plan_.global_batch,
          "; resume it with the batch_size and workers it was trained with"));
    }
    pos_ = Position{m.step, m.samples_seen, m.data_cursor.epoch, m.data_cursor.position};
    restored_step_ = m.step;
    last_checkpoint_step_ = m.step;
    Log(LogLevel::kInfo, absl::StrCat("resumed from ", o_.resume_dir, " at step ", m.step,
                                      ", epoch ", m.data_cursor.epoch, ", cursor ",
                                      m.data_cursor.position));
  }
  stepper_ = std::make_unique<train::TrainStepper>(&*optimizer_, &*schedule_, step_options,
                                                   pos_.samples_seen);

  dist::GroupOptions g;
  g.rank = o_.rank;
  g.world_size = o_.world_size;
  g.store_host = o_.store_host;
  g.store_port = o_.store_port;
  g.timeout = std::chrono::milliseconds(static_cast<int64_t>(o_.collective_timeout_s * 1000));
  g.cuda = device_.is_cuda();
  g.cuda_device = device_.has_index() ? device_.index() : 0;
  VMAE_ASSIGN_OR_RETURN(group_, dist::ProcessGroup::Create(g, [this](int port) {
                          events_.Emit("rendezvous", {{"port", port}});
                        }));
  std::vector<at::Tensor> state = model_.state();
  {
    torch::NoGradGuard no_grad;
    VMAE_RETURN_IF_ERROR(group_->Broadcast(state, 0));
  }
  if (o_.world_size > 1) {
    reducer_ = std::make_unique<dist::GradReducer>(group_.get(), model_.parameters());
    reducer_->set_overlap(o_.overlap);
  }
  sync_ = std::make_unique<ReducerSync>(reducer_.get(), [this]() {
    if (!o_.grad_dump.empty() && pos_.step == (restored_step_ ? *restored_step_ : 0)) {
      absl::Status s = WriteGradDump(o_.grad_dump, model_);
      if (!s.ok()) Log(LogLevel::kWarning, std::string(s.message()));
    }
  });
  stepper_->set_grad_sync(sync_.get());

  if (!model_.pretrain) {
    const v1::FinetuneSpec& f = spec_.finetune();
    loss_options_.mixup_active = f.mixup() > 0 || f.cutmix() > 0;
    loss_options_.smoothing = f.label_smoothing();
    if (loss_options_.mixup_active) {
      train::MixupOptions m;
      m.mixup_alpha = f.mixup();
      m.cutmix_alpha = f.cutmix();
      m.prob = f.mixup_prob();
      m.switch_prob = f.mixup_switch_prob();
      m.label_smoothing = f.label_smoothing();
      m.num_classes = spec_.model().num_classes();
      VMAE_ASSIGN_OR_RETURN(train::Mixup mixup, train::Mixup::Create(m));
      mixup_.emplace(std::move(mixup));
    }
  }

  recipe_ = data::TrainRecipe(spec_);
  data::LoaderOptions lo;
  lo.recipe = recipe_;
  lo.slice = data::RankSlice{plan_.rank_batch, o_.world_size, o_.rank};
  lo.decode_threads = std::max(1, spec_.data().decode_threads());
  lo.max_bad_fraction = spec_.data().max_bad_fraction();
  lo.log = log_;
  lo.allocate = data::BatchAllocatorFor(device_);
  VMAE_ASSIGN_OR_RETURN(loader_, data::ClipLoader::Create(train_entries_, lo));
  if (!o_.sample_log.empty()) {
    sample_log_.open(o_.sample_log, std::ios::app);
  }
  Log(LogLevel::kInfo,
      absl::StrFormat("world %d, global batch %d = %d ranks x %d micro-batches x %d videos, "
                      "%d steps per epoch, %d steps in all",
                      o_.world_size, plan_.global_batch, o_.world_size, plan_.accum_steps,
                      plan_.micro_batch, plan_.steps_per_epoch, total_steps_));
  return absl::OkStatus();
}

std::vector<double> Run::NewDataErrors() {
  std::vector<double> out;
  const data::DataErrorCounts counts = loader_->errors();
  for (size_t k = 0; k < counts.by_kind.size(); ++k) {
    out.push_back(static_cast<double>(counts.by_kind[k] - reported_errors_[k]));
    reported_errors_[k] = counts.by_kind[k];
  }
  return out;
}

absl::Status Run::TrainStep(data::HostBatch batch, double data_seconds,
                            Clock::time_point step_start) {
  data::BatchTensors t = data::ToTensors(std::move(batch), recipe_);
  const int64_t clips = t.clips.size(0);
  const int64_t accum = plan_.accum_steps;
  if (clips < accum) {
    return absl::FailedPreconditionError(absl::StrCat(
        "rank ", o_.rank, " has only ", clips, " good clips for a step of ", accum,
        " micro-batches: too many bad videos; repair the list or raise data.max_bad_fraction"));
  }
  double loss_sum = 0.0;
  bool finite = true;
  train::StepResult result;
  const int64_t per = (clips + accum - 1) / accum;
  for (int64_t m = 0; m < accum; ++m) {
    const int64_t begin = m * per;
    const int64_t end = std::min(clips, begin + per);
    const at::Tensor x = t.clips.slice(0, begin, end);
    if (model_.pretrain) {
      auto [mask, decoder_mask] =
          PretrainMasks(spec_, grid_, recipe_.seed, static_cast<uint64_t>(pos_.epoch),
                        t.samples.slice(0, begin, end), t.views.slice(0, begin, end));
      train::PretrainLossOptions loss;
      loss.normalize_target = spec_.pretrain().normalize_target();
      if (spec_.pretrain().loss() == v1::LOSS_TYPE_L1) loss.kind = model::LossKind::kL1;
      if (spec_.pretrain().loss() == v1::LOSS_TYPE_SMOOTH_L1) {
        loss.kind = model::LossKind::kSmoothL1;
      }
      result = train::PretrainStep(model_.pretrain_model, *stepper_, x, mask, decoder_mask, loss);
    } else {
      const at::Tensor labels = t.labels.slice(0, begin, end);
      at::Tensor input = x;
      at::Tensor targets = labels;
      if (mixup_) {
        // Each rank draws its own mix (the authors seed each rank apart),
        // and each micro-batch its own.
        VMAE_ASSIGN_OR_RETURN(
            train::MixedBatch mixed,
            mixup_->Apply(x, labels, static_cast<uint64_t>(spec_.seed() + o_.rank),
                          pos_.step * accum + m));
        input = mixed.clips;
        targets = mixed.targets;
      }
      const train::ClassificationLossOptions lo = loss_options_;
      result = train::FinetuneStep(model_.classifier, *stepper_, input,
                                   [&lo, &targets](const at::Tensor& logits) {
                                     absl::StatusOr<at::Tensor> l =
                                         train::ClassificationLoss(lo, logits, targets);
                                     TORCH_CHECK(l.ok(), std::string(l.status().message()));
                                     return *l;
                                   });
    }
    loss_sum += result.loss;
    finite = finite && std::isfinite(result.loss);
  }
  if (sample_log_.is_open()) {
    // Written before the step's last collective: a step that completed on
    // any rank is logged by every rank.
    for (int64_t i = 0; i < t.samples.size(0); ++i) {
      if (t.views[i].item<int32_t>() != 0) continue;  // one line per video
      sample_log_ << o_.attempt << ' ' << pos_.epoch << ' ' << pos_.step + 1 << ' '
                  << t.samples[i].item<int64_t>() << '\n';
    }
    sample_log_.flush();
  }
  // The group's mean loss, whether any rank's was not finite, and the bad
  // samples all ranks met in this step, by kind.
  std::vector<double> mine = {loss_sum / static_cast<double>(accum), finite ? 0.0 : 1.0};
  const std::vector<double> errors = NewDataErrors();
  mine.insert(mine.end(), errors.begin(), errors.end());
  std::vector<double> totals;
  VMAE_ASSIGN_OR_RETURN(totals, group_->AllReduceSum(mine));
  ++pos_.step;
  pos_.cursor += plan_.global_batch;
  pos_.samples_seen = stepper_->samples_seen();
  if (totals[1] > 0 || !std::isfinite(result.grad_norm)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the loss or gradient is not finite at step %d (lr %.3g); lower optimizer.lr, set "
        "optimizer.clip_grad, or check the data; restarting would fail the same way",
        pos_.step, result.lr));
  }
  if (o_.report_checksums) {
    events_.Emit("checksum",
                 {{"rank", o_.rank}, {"step", pos_.step}, {"sha256", ParameterDigest(model_)}});
  }
  if (o_.rank == 0) {
    const double seconds = SecondsSince(step_start);
    StepEvent e;
    e.step = pos_.step;
    e.total_steps = total_steps_;
    e.samples_seen = pos_.samples_seen;
    e.epoch = pos_.epoch;
    e.loss = totals[0] / static_cast<double>(o_.world_size);
    e.lr = result.lr;
    e.grad_norm = result.grad_norm;
    e.clips_per_second =
        seconds > 0 ? static_cast<double>(plan_.global_batch * recipe_.views()) / seconds : 0.0;
    e.data_seconds = data_seconds;
    e.allreduce_seconds = sync_->last_wait_seconds();
    e.compute_seconds = std::max(0.0, seconds - data_seconds - e.allreduce_seconds);
    if (restored_step_) {
      e.extra["restored_step"] = static_cast<double>(*restored_step_);
      restored_step_.reset();
    }
    for (size_t k = 0; k < errors.size(); ++k) {
      if (totals[2 + k] > 0) {
        e.data_errors[std::string(data::BadSampleKindName(data::kAllBadSampleKinds[k]))] =
            static_cast<int64_t>(totals[2 + k] + 0.5);
      }
    }
    events_.Step(e);
  }
  return absl::OkStatus();
}

absl::Status Run::Checkpoint(const std::string& reason, double val_top1) {
  if (o_.rank != 0) return absl::OkStatus();
  checkpoint::NativeManifest m;
  m.kind = model_.pretrain ? "pretrain" : "finetune";
  m.step = pos_.step;
  m.samples_seen = pos_.samples_seen;
  m.data_cursor.epoch = pos_.epoch;
  m.data_cursor.position = pos_.cursor;
  m.schedule.samples_seen = pos_.samples_seen;
  m.schedule.optimizer_step = pos_.step;
  std::string spec_json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  if (google::protobuf::util::MessageToJsonString(spec_, &spec_json, print).ok()) {
    m.job_spec_json = spec_json;
  }
  m.provenance.data_list_length = static_cast<int64_t>(train_entries_.size());
  const std::string root = (fs::path(o_.work_dir) / "checkpoints").string();
  VMAE_ASSIGN_OR_RETURN(std::string dir, WriteCheckpoint(root, model_, *optimizer_, m));
  last_checkpoint_step_ = pos_.step;
  events_.Emit("checkpoint", {{"step", pos_.step},
                              {"samples_seen", pos_.samples_seen},
                              {"dir", dir},
                              {"reason", reason},
                              {"val_top1", val_top1 > 0 ? val_top1 : 0.0}});
  PruneCheckpoints(root, kLocalCheckpointsKept);
  return absl::OkStatus();
}

absl::Status Run::MaybeEvaluate(bool test, double* top1) {
  *top1 = -1.0;
  if (model_.pretrain || val_entries_.empty()) return absl::OkStatus();
  EvalOptions eo;
  eo.loader.recipe = data::EvalRecipe(spec_, test);
  eo.loader.decode_threads = std::max(1, spec_.data().decode_threads());
  eo.loader.max_bad_fraction = spec_.data().max_bad_fraction();
  eo.loader.log = log_;
  eo.batch_videos = std::max<int64_t>(1, spec_.optimizer().batch_size());
  eo.num_classes = spec_.model().num_classes();
  eo.device = device_;
  VMAE_ASSIGN_OR_RETURN(EvalResult r, Evaluate(model_.classifier, val_entries_, eo, *group_));
  *top1 = r.top1;
  if (o_.rank == 0) {
    events_.Emit("eval", {{"step", pos_.step},
                          {"epoch", pos_.epoch},
                          {"split", test ? "test" : "val"},
                          {"val_top1", r.top1},
                          {"val_top5", r.top5},
                          {"val_loss", r.loss},
                          {"videos", r.videos},
                          {"bad_videos", r.bad_videos}});
  }
  Log(LogLevel::kInfo,
      absl::StrFormat("%s at step %d: top-1 %.2f%%, top-5 %.2f%%, loss %.4f over %d videos",
                      test ? "multi-view test" : "validation", pos_.step, r.top1, r.top5,
                      r.loss, r.videos));
  return absl::OkStatus();
}

absl::Status Run::Execute() {
  VMAE_RETURN_IF_ERROR(Setup());
  const int64_t epochs = spec_.optimizer().epochs();
  const int64_t every_steps = spec_.checkpoint().every_steps();
  const int64_t every_epochs = spec_.eval().every_epochs();
  const int64_t epoch_entries = plan_.steps_per_epoch * plan_.global_batch;
  if (pos_.cursor >= epoch_entries) {
    ++pos_.epoch;
    pos_.cursor = 0;
  }
  while (pos_.epoch < epochs) {
    loader_->StartEpoch(static_cast<uint64_t>(pos_.epoch), pos_.cursor);
    while (pos_.cursor < epoch_entries) {
      const Clock::time_point start = Clock::now();
      absl::StatusOr<std::optional<data::HostBatch>> next = loader_->Next();
      const double data_seconds = SecondsSince(start);
      const bool failed = !next.ok();
      const bool exhausted = !failed && !next->has_value();
      // The step's vote: a data failure or a stop request on any rank stops
      // every rank before the step, so none is left waiting in a collective.
      std::vector<double> vote;
      VMAE_ASSIGN_OR_RETURN(vote, group_->AllReduceSum({failed ? 1.0 : 0.0,
                                                        StopRequested() ? 1.0 : 0.0,
                                                        exhausted ? 1.0 : 0.0}));
      if (failed) return next.status();
      if (vote[0] > 0) {
        return absl::FailedPreconditionError(
            "another rank stopped on a data error; its log says which files and why");
      }
      if (vote[1] > 0) {
        if (last_checkpoint_step_ != pos_.step) {
          VMAE_RETURN_IF_ERROR(Checkpoint("pause", 0.0));
        }
        events_.Emit("stopped", {{"step", pos_.step}, {"rank", o_.rank}});
        Log(LogLevel::kInfo, absl::StrCat("stopped on request at step ", pos_.step));
        return absl::OkStatus();
      }
      if (vote[2] > 0) break;
      VMAE_RETURN_IF_ERROR(TrainStep(std::move(**next), data_seconds, start));
      if (every_steps > 0 && pos_.step % every_steps == 0 && pos_.step < total_steps_) {
        VMAE_RETURN_IF_ERROR(Checkpoint("periodic", 0.0));
      }
    }
    ++pos_.epoch;
    pos_.cursor = 0;
    if (every_epochs > 0 && pos_.epoch % every_epochs == 0 && pos_.epoch < epochs) {
      double top1 = -1.0;
      VMAE_RETURN_IF_ERROR(MaybeEvaluate(false, &top1));
      if (top1 > best_top1_) {
        best_top1_ = top1;
        VMAE_RETURN_IF_ERROR(Checkpoint("best", top1));
      }
    }
  }
  double top1 = -1.0;
  VMAE_RETURN_IF_ERROR(MaybeEvaluate(true, &top1));
  VMAE_RETURN_IF_ERROR(Checkpoint("final", top1));
  if (o_.rank == 0) {
    events_.Emit("done", {{"step", pos_.step}});
  }
  // The last collective: no rank exits (closing its sockets) while another
  // still waits for it.
  VMAE_RETURN_IF_ERROR(group_->Barrier());
  return absl::OkStatus();
}

}  // namespace

FailureKind ClassifyFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kOutOfRange:
      return FailureKind::kUser;
    default:
      return FailureKind::kInfrastructure;
  }
}

absl::Status RunTrainer(const TrainerOptions& options, EventWriter& events) {
  InstallStopHandler();
  events.Emit("started", {{"rank", options.rank}, {"pid", static_cast<int64_t>(getpid())}});
  Run run(options, events);
  try {
    return run.Execute();
  } catch (const CollectiveError& e) {
    return e.status();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("LibTorch: ", e.what_without_backtrace()));
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

}  // namespace vmae::trainer
