// `vmae train`: one rank of a job, started by its agent
// (docs/trainer-protocol.md). Exit 0 when done or stopped on SIGTERM, 2 for
// a user error (no restart can help), 1 for anything else.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/jobspec/jobspec.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "worker/tool/commands.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"
#include "worker/trainer/trainer.h"

namespace vmae::tool {
namespace {

const std::vector<FlagSpec>& Flags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"spec", false, "the resolved job spec as proto3 JSON (the agent writes it), or a job .yaml file; required"},
      {"job-id", false, "the job's id, for logs and checkpoints; required"},
      {"attempt", false, "the attempt number (default 1)"},
      {"rank", false, "this process's rank, 0..world-size-1 (default 0)"},
      {"world-size", false, "ranks in the attempt (default 1)"},
      {"work-dir", false, "this rank's private folder (checkpoints/); required"},
      {"store", false,
       "HOST:PORT of rank 0's store: where rank 0 listens (default 0.0.0.0:0), where "
       "others connect (required for them)"},
      {"data-root", false, "relative data.root resolves against this folder"},
      {"resume", false, "checkpoint folder to continue from (any world size)"},
      {"init-from", false, "fine-tuning: checkpoint whose weights initialise the model"},
      {"device", false, "cpu or cuda:N (default cpu)"},
      {"threads", false, "intra-op threads (default 1)"},
      {"collective-timeout-s", false, "every collective fails after this (default 300)"},
      {"sample-log", false, "append 'attempt epoch step sample' per video (tests, debugging)"},
      {"grad-dump", false, "write the first step's averaged gradient to this .pt file (tests)"},
      {"report-checksums", true, "every rank reports its parameters' SHA-256 per step (tests)"},
      {"no-overlap", true, "all-reduce gradients after the backward, not during it (benchmarks)"},
  };
  return *flags;
}

constexpr char kUsage[] =
    "Usage: vmae train --spec SPEC.json --job-id ID --work-dir DIR [--rank R --world-size W\n"
    "                  --store HOST:PORT] [flags]\n"
    "Runs one rank of a training job; its agent (vmae-worker) starts it. Reports are JSON\n"
    "lines on stdout, logs go to stderr (docs/trainer-protocol.md). SIGTERM checkpoints and\n"
    "stops at the next step. Exit codes: 0 done or stopped; 2 user error (bad config or\n"
    "data, non-finite loss); 1 anything else (a restart may help).\n";

absl::Status ParseStore(const std::string& text, std::string* host, int* port) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(text.substr(colon + 1), port) ||
      *port < 0 || *port > 65535 || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--store=", text, " is not HOST:PORT; give e.g. --store 10.0.0.5:29500"));
  }
  *host = text.substr(0, colon);
  return absl::OkStatus();
}

absl::Status Parse(const ParsedFlags& flags, trainer::TrainerOptions* o) {
  std::string spec_path;
  VMAE_ASSIGN_OR_RETURN(spec_path, flags.Require("spec"));
  if (absl::EndsWith(spec_path, ".yaml") || absl::EndsWith(spec_path, ".yml")) {
    // A job file, resolved as vmaectl resolves it: one rank can be run by
    // hand without a coordinator.
    VMAE_ASSIGN_OR_RETURN(o->spec, jobspec::LoadJobSpecFile(spec_path));
  } else {
    std::ifstream in(spec_path);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("--spec ", spec_path, ": cannot read it"));
    }
    std::stringstream text;
    text << in.rdbuf();
    const auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &o->spec);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--spec ", spec_path, ": not a JobSpec in proto3 JSON (", parsed.ToString(),
          "); give the JSON the agent writes or a job .yaml file"));
    }
    VMAE_RETURN_IF_ERROR(jobspec::ValidateJobSpec(o->spec));
  }
  VMAE_ASSIGN_OR_RETURN(o->job_id, flags.Require("job-id"));
  VMAE_ASSIGN_OR_RETURN(o->work_dir, flags.Require("work-dir"));
  VMAE_ASSIGN_OR_RETURN(const int64_t attempt, flags.GetInt("attempt", 1));
  VMAE_ASSIGN_OR_RETURN(const int64_t rank, flags.GetInt("rank", 0));
  VMAE_ASSIGN_OR_RETURN(const int64_t world, flags.GetInt("world-size", 1));
  VMAE_ASSIGN_OR_RETURN(const int64_t threads, flags.GetInt("threads", 1));
  VMAE_ASSIGN_OR_RETURN(o->collective_timeout_s, flags.GetDouble("collective-timeout-s", 300));
  if (world < 1 || rank < 0 || rank >= world || threads < 1 || o->collective_timeout_s <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "need 0 <= --rank < --world-size, --threads >= 1 and --collective-timeout-s > 0; got "
        "rank ", rank, ", world size ", world, ", threads ", threads));
  }
  o->attempt = static_cast<int>(attempt);
  o->rank = static_cast<int>(rank);
  o->world_size = static_cast<int>(world);
  o->threads = static_cast<int>(threads);
  if (flags.Has("store")) {
    VMAE_RETURN_IF_ERROR(ParseStore(flags.Get("store"), &o->store_host, &o->store_port));
  } else if (o->rank != 0) {
    return absl::InvalidArgumentError("ranks other than 0 need --store HOST:PORT of rank 0");
  }
  o->data_root = flags.Get("data-root");
  o->resume_dir = flags.Get("resume");
  o->init_from_dir = flags.Get("init-from");
  o->device = flags.Get("device", "cpu");
  o->sample_log = flags.Get("sample-log");
  o->grad_dump = flags.Get("grad-dump");
  o->report_checksums = flags.Has("report-checksums");
  o->overlap = !flags.Has("no-overlap");
  return absl::OkStatus();
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", kUsage, FlagsHelp(Flags()).c_str());
    return kExitOk;
  }
  trainer::EventWriter events;
  absl::Status status;
  trainer::TrainerOptions options;
  absl::StatusOr<ParsedFlags> flags = ParseFlags(args, Flags());
  status = flags.ok() ? Parse(*flags, &options) : flags.status();
  if (status.ok()) {
    status = trainer::RunTrainer(options, events);
  }
  if (status.ok()) return kExitOk;
  const bool user = trainer::ClassifyFailure(status) == trainer::FailureKind::kUser;
  const std::string message(status.message());
  events.Emit("error", {{"kind", user ? "user" : "infra"}, {"message", message}});
  std::fprintf(stderr, "vmae train: %s\n", message.c_str());
  return user ? kExitUsage : kExitFailed;
}

}  // namespace vmae::tool
