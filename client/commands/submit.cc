// vmaectl submit FILE.yaml: validate locally (common/jobspec), then SubmitJob.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"
#include "common/jobspec/jobspec.h"

namespace vmae::client {

int RunSubmit(Context& ctx) {
  const std::string& path = ctx.cmd().args[0];
  const std::vector<std::string> overrides = ctx.cmd().GetAll("set");
  for (const std::string& o : overrides) {
    if (o.find('=') == std::string::npos) {
      return ctx.Fail(absl::InvalidArgumentError(
          absl::StrCat("--set needs KEY=VALUE, got '", o, "'; e.g. --set optimizer.epochs=10")));
    }
  }
  const std::string from = ctx.cmd().Get("from");
  if (!from.empty() && !absl::StartsWith(from, "job://")) {
    return ctx.Fail(absl::InvalidArgumentError(
        absl::StrCat("--from needs job://ID or job://ID/CKPT, got '", from, "'")));
  }

  // Validate here first: every problem, with file:line:col, and nothing sent.
  absl::StatusOr<v1::JobSpec> spec = jobspec::LoadJobSpecFile(path, overrides);
  if (!spec.ok()) {
    // Whatever went wrong with the file (missing, unreadable, invalid) is a
    // problem with the command line: exit 2. The validator's lines
    // (file:line:col: field: problem) are printed verbatim.
    const std::string message(spec.status().message());
    const size_t problems = std::count(message.begin(), message.end(), '\n') + 1;
    if (problems > 1) {
      ctx.err() << "error: " << path << " is not a valid job file (" << problems
                << " problems); nothing was sent:\n"
                << message << (message.back() == '\n' ? "" : "\n");
      return kExitUsage;
    }
    return ctx.Fail(absl::InvalidArgumentError(message));
  }
  if (ctx.cmd().Has("dry-run")) {
    if (ctx.format() == OutputFormat::kTable) {
      ctx.out() << jobspec::JobSpecToYaml(*spec);
      return kExitOk;
    }
    absl::StatusOr<std::string> text = FormatMessage(*spec, ctx.format());
    if (!text.ok()) {
      return ctx.Fail(text.status());
    }
    ctx.out() << *text;
    return kExitOk;
  }

  std::ifstream in(path, std::ios::binary);
  std::ostringstream yaml;
  yaml << in.rdbuf();
  if (!in) {
    return ctx.Fail(absl::InvalidArgumentError(absl::StrCat("cannot read ", path)));
  }

  v1::SubmitJobRequest request;
  request.set_spec_yaml(yaml.str());
  for (const std::string& o : overrides) {
    request.add_overrides(o);
  }
  // One key per invocation, so the client's own retries never make a second job.
  request.set_idempotency_key(ctx.cmd().Has("idempotency-key") ? ctx.cmd().Get("idempotency-key")
                                                               : RandomIdempotencyKey());
  request.set_from(from);

  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::Job> job = (*client)->SubmitJob(request);
  if (!job.ok()) {
    return ctx.Fail(ctx.Explain(job.status()));
  }
  if (ctx.format() == OutputFormat::kTable) {
    ctx.out() << "job " << job->id() << " submitted\n";
    ctx.out().flush();
  } else if (!ctx.cmd().Has("watch")) {
    return PrintJob(ctx, *job);
  }
  if (ctx.cmd().Has("watch")) {
    return WatchAndReport(ctx, job->id(), /*include_logs=*/false);
  }
  return kExitOk;
}

}  // namespace vmae::client
