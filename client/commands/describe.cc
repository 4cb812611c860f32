// vmaectl describe ID: GetJob, explained for people (or the whole
// GetJobResponse with -o json|yaml).
#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {
namespace {

std::string Lower(const std::string& enum_name, absl::string_view prefix) {
  std::string s = enum_name;
  if (absl::StartsWith(s, prefix)) {
    s = s.substr(prefix.size());
  }
  if (s == "UNSPECIFIED" || s.empty()) {
    return "-";
  }
  return absl::AsciiStrToLower(s);
}

// "Label:" padded so values line up in column 17 (at least one space).
void Field(std::string* out, absl::string_view label, absl::string_view value, int indent = 0) {
  const std::string head = absl::StrCat(std::string(indent, ' '), label, ":");
  absl::StrAppend(out, head, std::string(head.size() < 16 ? 16 - head.size() : 1, ' '), value,
                  "\n");
}

std::string When(const google::protobuf::Timestamp& ts, absl::Time now) {
  if (!IsSet(ts)) {
    return "-";
  }
  return absl::StrCat(FormatTimestamp(ts), " (", FormatTimestampAge(ts, now), " ago)");
}

std::string Number(double v) { return absl::StrFormat("%g", v); }

std::string SpecSummary(const v1::JobSpec& spec) {
  std::string s;
  const v1::ModelSpec& m = spec.model();
  std::string model =
      absl::StrCat(m.arch().empty() ? "-" : m.arch(), ": embed ", m.embed_dim(), ", depth ",
                   m.depth(), ", heads ", m.num_heads(), ", patch ", m.patch_size(), ", tubelet ",
                   m.tubelet_size(), ", ", m.num_frames(), " frames of ", m.image_size(), "px");
  if (spec.kind() == v1::JOB_KIND_FINETUNE) {
    absl::StrAppend(&model, ", ", m.num_classes(), " classes");
  }
  Field(&s, "Model", model, 2);
  if (spec.kind() == v1::JOB_KIND_PRETRAIN) {
    const v1::PretrainSpec& p = spec.pretrain();
    Field(&s, "Pre-training",
          absl::StrCat(Lower(v1::MaskType_Name(p.mask_type()), "MASK_TYPE_"), " mask ",
                       Number(p.mask_ratio()), ", decoder mask ",
                       Lower(v1::DecoderMaskType_Name(p.decoder_mask_type()), "DECODER_MASK_TYPE_"),
                       ", loss ", Lower(v1::LossType_Name(p.loss()), "LOSS_TYPE_"),
                       p.normalize_target() ? ", normalized target" : ""),
          2);
  } else if (spec.kind() == v1::JOB_KIND_FINETUNE) {
    const v1::FinetuneSpec& f = spec.finetune();
    Field(&s, "Fine-tuning",
          absl::StrCat("from ", f.init_from().empty() ? "-" : f.init_from(), ", layer decay ",
                       Number(f.layer_decay()), ", mixup ", Number(f.mixup()), ", cutmix ",
                       Number(f.cutmix()), ", label smoothing ", Number(f.label_smoothing())),
          2);
  }
  const v1::DataSpec& d = spec.data();
  Field(&s, "Data",
        absl::StrCat(d.root().empty() ? "-" : d.root(), ", train ",
                     d.train().empty() ? "-" : d.train(), ", val ", d.val().empty() ? "-" : d.val(),
                     ", sampling ", d.sampling().empty() ? "-" : d.sampling(), " rate ",
                     d.sampling_rate()),
        2);
  const v1::OptimizerSpec& o = spec.optimizer();
  Field(&s, "Optimizer",
        absl::StrCat(o.lr() > 0 ? absl::StrCat("lr ", Number(o.lr()))
                                : absl::StrCat("base_lr ", Number(o.base_lr())),
                     ", batch ", o.batch_size(), " per worker, ", o.epochs(), " epochs, warmup ",
                     Number(o.warmup_epochs()), ", weight decay ", Number(o.weight_decay())),
        2);
  const v1::ResourceSpec& r = spec.resources();
  std::map<std::string, std::string> selector(r.selector().begin(), r.selector().end());
  std::vector<std::string> pairs;
  for (const auto& [k, v] : selector) {
    pairs.push_back(absl::StrCat(k, "=", v));
  }
  Field(&s, "Resources",
        absl::StrCat(r.workers(), " workers (min ", r.min_workers(), "), ",
                     r.device().empty() ? "-" : r.device(), ", ",
                     r.precision().empty() ? "-" : r.precision(), ", selector ",
                     pairs.empty() ? "-" : absl::StrJoin(pairs, ","), ", max restarts ",
                     r.max_restarts(), ", priority ", r.priority()),
        2);
  Field(&s, "Checkpoints",
        absl::StrCat("every ", spec.checkpoint().every_steps(), " steps, keep last ",
                     spec.checkpoint().keep_last()),
        2);
  return s;
}

}  // namespace

int RunDescribe(Context& ctx) {
  const std::string& id = ctx.cmd().args[0];
  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::GetJobResponse> response = (*client)->GetJob(id, /*include_history=*/true);
  if (!response.ok()) {
    return ctx.Fail(ctx.Explain(response.status(), id));
  }
  if (ctx.format() != OutputFormat::kTable) {
    absl::StatusOr<std::string> text = FormatMessage(*response, ctx.format());
    if (!text.ok()) {
      return ctx.Fail(text.status());
    }
    ctx.out() << *text;
    return kExitOk;
  }

  const v1::Job& job = response->job();
  const absl::Time now = absl::Now();
  std::string s;
  Field(&s, "Name", job.name().empty() ? "-" : job.name());
  Field(&s, "ID", job.id());
  Field(&s, "Owner", job.owner().empty() ? "-" : job.owner());
  Field(&s, "Kind", JobKindName(job.spec().kind()));
  Field(&s, "State", JobStateName(job.state()));
  if (!job.state_reason().empty()) {
    Field(&s, "Reason", job.state_reason());
  }
  if (job.state() == v1::JOB_STATE_FAILED || job.failure_kind() != v1::FAILURE_KIND_UNSPECIFIED) {
    Field(&s, "Failure",
          job.failure_kind() == v1::FAILURE_KIND_USER
              ? "user error (fix the spec or data; the job was not restarted)"
          : job.failure_kind() == v1::FAILURE_KIND_INFRASTRUCTURE
              ? "infrastructure (restarts were used up)"
              : "-");
  }
  if (job.state() == v1::JOB_STATE_QUEUED) {
    Field(&s, "Waiting", job.queue_reason().empty() ? "-" : job.queue_reason());
  }
  Field(&s, "Created", When(job.create_time(), now));
  Field(&s, "Started", When(job.start_time(), now));
  Field(&s, "Ended", When(job.end_time(), now));
  std::string progress = absl::StrCat("step ", StepCell(job));
  if (job.total_steps() > 0) {
    absl::StrAppend(
        &progress, " (",
        std::min<int64_t>(100, std::max<int64_t>(0, job.step()) * 100 / job.total_steps()), "%)");
  }
  if (job.step() > 0) {
    absl::StrAppend(&progress, ", loss ", FormatLoss(job.loss()));
  }
  if (job.clips_per_second() > 0) {
    absl::StrAppendFormat(&progress, ", %.1f clips/s", job.clips_per_second());
  }
  absl::StrAppend(&progress, ", ", job.samples_seen(), " samples seen");
  Field(&s, "Progress", progress);
  Field(&s, "Attempt",
        absl::StrCat(job.attempt(), " (", job.restarts(), " of max ",
                     job.spec().resources().max_restarts(), " restarts used)"));
  if (job.restored_step() > 0) {
    Field(&s, "Restored", absl::StrCat("this attempt resumed from step ", job.restored_step()));
  }
  if (!job.start_checkpoint().empty()) {
    Field(&s, "Started from", job.start_checkpoint());
  }
  if (!job.data_errors().empty()) {
    std::map<std::string, int64_t> errors(job.data_errors().begin(), job.data_errors().end());
    std::vector<std::string> parts;
    for (const auto& [kind, count] : errors) {
      parts.push_back(absl::StrCat(kind, " ", count));
    }
    Field(&s, "Data errors", absl::StrJoin(parts, ", "));
  }
  if (!job.resolved_init_checkpoint().empty()) {
    Field(&s, "Init from",
          absl::StrCat(job.spec().finetune().init_from(), " -> ", job.resolved_init_checkpoint()));
  }
  s += "Spec:\n";
  s += SpecSummary(job.spec());

  if (job.ranks_size() > 0) {
    Field(&s, "Ranks", absl::StrCat("world size ", job.world_size()));
    Table ranks({"RANK", "WORKER", "AGENT", "NODE", "SLOT"});
    for (const v1::RankAssignment& r : job.ranks()) {
      ranks.AddRow(
          {absl::StrCat(r.rank()), r.worker_id(), r.agent_id(), r.node(), absl::StrCat(r.slot())});
    }
    for (absl::string_view line : absl::StrSplit(ranks.Render(), '\n', absl::SkipEmpty())) {
      absl::StrAppend(&s, "  ", line, "\n");
    }
  } else {
    Field(&s, "Ranks", "none (not running)");
  }

  if (response->history_size() > 0) {
    s += "History (oldest first):\n";
    Table history({"TIME", "FROM", "TO", "ATTEMPT", "REASON"});
    for (const v1::JobEvent& event : response->history()) {
      if (!event.has_state()) {
        continue;
      }
      const v1::StateChange& c = event.state();
      history.AddRow({IsSet(event.time())
                          ? absl::StrCat(FormatTimestamp(event.time()), " (",
                                         FormatTimestampAge(event.time(), now), " ago)")
                          : "-",
                      c.from() == v1::JOB_STATE_UNSPECIFIED ? std::string("-")
                                                            : JobStateName(c.from()),
                      JobStateName(c.to()), absl::StrCat(c.attempt()),
                      c.reason().empty() ? "-" : c.reason()});
    }
    for (absl::string_view line : absl::StrSplit(history.Render(), '\n', absl::SkipEmpty())) {
      absl::StrAppend(&s, "  ", line, "\n");
    }
  }
  ctx.out() << s;
  return kExitOk;
}

}  // namespace vmae::client
