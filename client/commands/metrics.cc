// vmaectl metrics ID NAME [--from S] [--to S]: GetMetrics as STEP VALUE.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {

int RunMetrics(Context& ctx) {
  const std::string& id = ctx.cmd().args[0];
  v1::GetMetricsRequest request;
  request.set_job_id(id);
  request.set_name(ctx.cmd().args[1]);
  for (const char* flag : {"from", "to"}) {
    if (!ctx.cmd().Has(flag)) {
      continue;
    }
    int64_t step = 0;
    if (!absl::SimpleAtoi(ctx.cmd().Get(flag), &step) || step < 0) {
      return ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
          "--", flag, " needs a step number (0, 1, ...), got '", ctx.cmd().Get(flag), "'")));
    }
    if (std::string(flag) == "from") {
      request.set_start_step(step);
    } else {
      request.set_end_step(step);
    }
  }
  if (request.end_step() > 0 && request.end_step() < request.start_step()) {
    return ctx.Fail(absl::InvalidArgumentError("--to must not be smaller than --from"));
  }

  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::GetMetricsResponse> response = (*client)->GetMetrics(request);
  if (!response.ok()) {
    return ctx.Fail(ctx.Explain(response.status(), id));
  }
  if (ctx.format() != OutputFormat::kTable) {
    std::vector<const google::protobuf::Message*> points;
    for (const v1::MetricPoint& p : response->points()) {
      points.push_back(&p);
    }
    absl::StatusOr<std::string> text = FormatMessageList(points, ctx.format());
    if (!text.ok()) {
      return ctx.Fail(text.status());
    }
    ctx.out() << *text;
    return kExitOk;
  }
  if (response->points().empty()) {
    ctx.err() << "No points for metric '" << request.name() << "' of job " << id
              << " in that range (names: loss, lr, grad_norm, clips_per_second, val_top1, ...).\n";
    return kExitOk;
  }
  Table table({"STEP", "VALUE"});
  for (const v1::MetricPoint& p : response->points()) {
    table.AddRow({absl::StrCat(p.step()), absl::StrFormat("%.6g", p.value())});
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace vmae::client
