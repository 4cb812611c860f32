// The verb table and RunVmaectl: parse, help, then hand over to the verb.
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {
namespace {

using Runner = int (*)(Context&);

struct Verb {
  VerbSpec spec;
  Runner run;
};

const std::vector<Verb>& Verbs() {
  static const auto* verbs = new std::vector<Verb>{
      {{"submit",
        "FILE.yaml",
        "validate a job file and submit it",
        "The file is validated locally first; problems are printed with file:line:col and\n"
        "nothing is sent (exit 2). Retries after UNAVAILABLE reuse one idempotency key, so a\n"
        "job is never submitted twice.",
        {{"set", 0, true, true, "KEY=VALUE", "override a field, e.g. --set optimizer.epochs=10"},
         {"dry-run", 0, false, false, "", "validate and print the resolved spec; send nothing"},
         {"idempotency-key", 0, true, false, "KEY",
          "resubmitting with the same key returns the first job (default: random per run)"},
         {"from", 0, true, false, "job://ID[/CKPT]",
          "start from another job's checkpoint (default: its latest)"},
         {"watch", 'w', false, false, "", "then follow the job like 'vmaectl watch'"}},
        1,
        1,
        false},
       RunSubmit},
      {{"list",
        "",
        "list jobs (newest first)",
        "Without --state or --all only jobs that have not ended are listed.",
        {{"state", 0, true, true, "STATE",
          "only jobs in STATE (QUEUED, RUNNING, ..., FAILED); comma-separated lists work"},
         {"owner", 0, true, false, "USER", "only USER's jobs"},
         {"name", 0, true, false, "TEXT", "only jobs whose name contains TEXT"},
         {"all", 'A', false, false, "", "include jobs that ended (SUCCEEDED, FAILED, CANCELLED)"}},
        0,
        0,
        false},
       RunList},
      {{"get",
        "ID",
        "show one job (a table row, or the whole job with -o json|yaml)",
        "",
        {},
        1,
        1,
        false},
       RunGet},
      {{"describe",
        "ID",
        "explain one job: spec, state and why, ranks, restarts, history",
        "",
        {},
        1,
        1,
        false},
       RunDescribe},
      {{"cancel",
        "ID",
        "cancel a job",
        "",
        {{"reason", 0, true, false, "TEXT", "note recorded with the transition"}},
        1,
        1,
        false},
       RunCancel},
      {{"pause",
        "ID",
        "checkpoint a running job and release its workers",
        "",
        {{"reason", 0, true, false, "TEXT", "note recorded with the transition"}},
        1,
        1,
        false},
       RunPause},
      {{"resume",
        "ID",
        "requeue a paused job",
        "",
        {{"reason", 0, true, false, "TEXT", "note recorded with the transition"}},
        1,
        1,
        false},
       RunResume},
      {{"watch",
        "ID",
        "follow a job until it ends (exit 0 SUCCEEDED, 1 FAILED or CANCELLED)",
        "On a terminal: a progress bar with step/total, loss, clips/s and ETA, and a line per\n"
        "state change and checkpoint. Otherwise, or with -o json: one JSON event per line.\n"
        "A dropped connection is resumed where it stopped; no event is lost or repeated.",
        {{"logs", 0, false, false, "", "also print the ranks' log lines"}},
        1,
        1,
        false},
       RunWatch},
      {{"logs",
        "ID",
        "print the job's log lines (every rank unless --rank)",
        "",
        {{"follow", 'f', false, false, "", "keep printing new lines"},
         {"rank", 0, true, false, "R", "only rank R (lines print without the [rank R] prefix)"},
         {"attempt", 0, true, false, "A", "only attempt A (default: all)"}},
        1,
        1,
        false},
       RunLogs},
      {{"metrics",
        "ID NAME",
        "print a metric series (loss, lr, grad_norm, clips_per_second, val_top1, ...)",
        "",
        {{"from", 0, true, false, "STEP", "first step (inclusive)"},
         {"to", 0, true, false, "STEP", "last step (inclusive)"}},
        2,
        2,
        false},
       RunMetrics},
      {{"checkpoints", "ID", "list a job's checkpoints (oldest first)", "", {}, 1, 1, false},
       RunCheckpoints},
      {{"download",
        "ID [CKPT]",
        "download a checkpoint (default: latest) into a directory",
        "For this command -o/--output is the DIRECTORY to write to (required), not a format.\n"
        "Each file is checked against its size and SHA-256 before it is renamed into place;\n"
        "on any mismatch nothing is left behind and the exit code is 1. CKPT is a checkpoint\n"
        "id, 'latest' or 'best'.",
        {{"format", 0, true, false, "native|hf",
          "native (safetensors + manifest) or hf (Hugging Face names + config.json)"}},
        1,
        2,
        /*output_is_path=*/true},
       RunDownload},
      {{"workers", "", "list the agents and their devices", "", {}, 0, 0, false}, RunWorkers},
      {{"health",
        "",
        "check that the coordinator serves (exit 0), e.g. for container health checks",
        "Calls the standard gRPC health service; needs no token.",
        {},
        0,
        0,
        false},
       RunHealth},
      {{"version", "", "print vmaectl's version", "", {}, 0, 0, false}, RunVersion},
  };
  return *verbs;
}

}  // namespace

const std::vector<VerbSpec>& VerbSpecs() {
  static const auto* specs = [] {
    auto* v = new std::vector<VerbSpec>;
    for (const Verb& verb : Verbs()) {
      v->push_back(verb.spec);
    }
    // `vmaectl help [COMMAND]` is handled here, not by a runner.
    v->push_back({"help", "[COMMAND]", "show help for vmaectl or a command", "", {}, 0, 1, false});
    return v;
  }();
  return *specs;
}

int RunVmaectl(const std::vector<std::string>& argv, const EnvLookup& env, Io io, Tuning tuning) {
  absl::StatusOr<ParsedCommandLine> parsed = ParseCommandLine(argv, VerbSpecs(), env);
  if (!parsed.ok()) {
    *io.err << "error: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->verb == "help" || (parsed->verb.empty() && parsed->global.help)) {
    const std::string topic = parsed->args.empty() ? "" : parsed->args[0];
    if (topic.empty()) {
      *io.out << GlobalHelp(VerbSpecs());
      return kExitOk;
    }
    for (const VerbSpec& spec : VerbSpecs()) {
      if (spec.name == topic) {
        *io.out << VerbHelp(spec);
        return kExitOk;
      }
    }
    *io.err << "error: unknown command '" << topic << "'; see 'vmaectl --help'\n";
    return kExitUsage;
  }
  if (parsed->verb.empty()) {
    if (parsed->global.version) {
      Context ctx(*parsed, io, tuning);
      return RunVersion(ctx);
    }
    *io.err << GlobalHelp(VerbSpecs()) << "\nerror: no command given; see above\n";
    return kExitUsage;
  }
  for (const Verb& verb : Verbs()) {
    if (verb.spec.name != parsed->verb) {
      continue;
    }
    if (parsed->global.help) {
      *io.out << VerbHelp(verb.spec);
      return kExitOk;
    }
    Context ctx(*parsed, io, tuning);
    if (parsed->global.version) {
      return RunVersion(ctx);
    }
    return verb.run(ctx);
  }
  *io.err << "error: unknown command '" << parsed->verb << "'; see 'vmaectl --help'\n";
  return kExitUsage;
}

}  // namespace vmae::client
