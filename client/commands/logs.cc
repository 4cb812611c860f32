// vmaectl logs ID [-f] [--rank R] [--attempt A]: StreamLogs, resumed by
// after_seq when the connection drops.
#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {

absl::Status RunLogsLoop(
    CoordinatorClient& client, v1::StreamLogsRequest request, const Tuning& tuning,
    const std::function<void(const v1::LogLine&)>& on_line,
    const std::function<void(const absl::Status&, absl::Duration)>& on_reconnect) {
  int64_t last_seq = request.after_seq();
  int fruitless = 0;
  absl::Duration pause = tuning.reconnect_backoff;
  while (true) {
    request.set_after_seq(last_seq);
    bool got_new = false;
    absl::Status status = client.StreamLogs(request, [&](const v1::LogLine& line) {
      if (line.seq() > 0) {
        if (line.seq() <= last_seq) {
          return true;  // printed before the reconnect.
        }
        last_seq = line.seq();
      }
      got_new = true;
      on_line(line);
      return true;
    });
    if (status.ok()) {
      return status;
    }
    if (status.code() != absl::StatusCode::kUnavailable) {
      return status;
    }
    if (got_new) {
      fruitless = 0;
      pause = tuning.reconnect_backoff;
    } else if (++fruitless > tuning.max_failed_reconnects) {
      return status;
    }
    if (on_reconnect) {
      on_reconnect(status, pause);
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, tuning.max_reconnect_backoff);
  }
}

int RunLogs(Context& ctx) {
  const std::string& id = ctx.cmd().args[0];
  v1::StreamLogsRequest request;
  request.set_job_id(id);
  request.set_follow(ctx.cmd().Has("follow"));
  const bool one_rank = ctx.cmd().Has("rank");
  request.set_rank(-1);
  if (one_rank) {
    int rank = 0;
    if (!absl::SimpleAtoi(ctx.cmd().Get("rank"), &rank) || rank < 0) {
      return ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
          "--rank needs a rank number (0, 1, ...), got '", ctx.cmd().Get("rank"), "'")));
    }
    request.set_rank(rank);
  }
  if (ctx.cmd().Has("attempt")) {
    int attempt = 0;
    if (!absl::SimpleAtoi(ctx.cmd().Get("attempt"), &attempt) || attempt < 1) {
      return ctx.Fail(absl::InvalidArgumentError(absl::StrCat(
          "--attempt needs an attempt number (1, 2, ...), got '", ctx.cmd().Get("attempt"), "'")));
    }
    request.set_attempt(attempt);
  }

  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  // A unary call first: an unknown job or an absent coordinator fails at
  // once (exit 5 / 3) instead of being retried like a dropped stream.
  absl::StatusOr<v1::GetJobResponse> job = (*client)->GetJob(id);
  if (!job.ok()) {
    return ctx.Fail(ctx.Explain(job.status(), id));
  }

  absl::Status print_error = absl::OkStatus();
  absl::Status status = RunLogsLoop(
      **client, request, ctx.tuning(),
      [&](const v1::LogLine& line) {
        if (ctx.format() == OutputFormat::kTable) {
          if (!one_rank) {
            ctx.out() << "[rank " << line.rank() << "] ";
          }
          ctx.out() << line.text();
          if (line.text().empty() || line.text().back() != '\n') {
            ctx.out() << "\n";
          }
        } else {
          absl::StatusOr<std::string> text = ctx.format() == OutputFormat::kJson
                                                 ? MessageToJson(line, /*pretty=*/false)
                                                 : FormatMessage(line, OutputFormat::kYaml);
          if (!text.ok()) {
            print_error.Update(text.status());
            return;
          }
          if (ctx.format() == OutputFormat::kYaml) {
            ctx.out() << "---\n" << *text;
          } else {
            ctx.out() << *text << "\n";
          }
        }
        ctx.out().flush();
      },
      [&](const absl::Status&, absl::Duration) {
        ctx.err() << "connection lost, reconnecting...\n";
        ctx.err().flush();
      });
  if (!status.ok()) {
    return ctx.Fail(ctx.Explain(status, id));
  }
  if (!print_error.ok()) {
    return ctx.Fail(print_error);
  }
  return kExitOk;
}

}  // namespace vmae::client
