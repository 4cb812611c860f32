// vmaectl watch ID: WatchJob until the job ends, resuming after dropped
// connections with after_seq so that no event is lost or repeated.
#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"
#include "client/progress_bar.h"

namespace vmae::client {
namespace {

absl::Time EventTime(const v1::JobEvent& event) {
  if (event.has_metric() && IsSet(event.metric().time())) {
    return ToAbslTime(event.metric().time());
  }
  if (IsSet(event.time())) {
    return ToAbslTime(event.time());
  }
  return absl::Now();
}

std::string Clock(const v1::JobEvent& event) {
  return absl::FormatTime("%H:%M:%S", EventTime(event), absl::LocalTimeZone());
}

// Prints events for people on a terminal: a progress bar, and a line per
// state change, checkpoint and log line above it.
class LivePrinter {
 public:
  explicit LivePrinter(Context& ctx) : ctx_(ctx), bar_(ctx.out()) {}

  void OnEvent(const v1::JobEvent& event) {
    if (event.has_snapshot()) {
      const v1::Job& job = event.snapshot();
      Resync(job);
      std::string line = absl::StrCat("job ", job.id());
      if (!job.name().empty()) {
        absl::StrAppend(&line, " (", job.name(), ")");
      }
      absl::StrAppend(&line, ": ", JobStateName(job.state()));
      if (job.attempt() > 0) {
        absl::StrAppend(&line, ", attempt ", job.attempt());
      }
      if (!job.state_reason().empty()) {
        absl::StrAppend(&line, ": ", job.state_reason());
      }
      Line(line);
      if (job.state() == v1::JOB_STATE_QUEUED && !job.queue_reason().empty()) {
        Line(absl::StrCat("Waiting: ", job.queue_reason()));
      }
    } else if (event.has_state()) {
      const v1::StateChange& c = event.state();
      std::string line =
          absl::StrCat(Clock(event), " ", JobStateName(c.from()), " -> ", JobStateName(c.to()));
      if (c.attempt() > 0) {
        absl::StrAppend(&line, " (attempt ", c.attempt(), ")");
      }
      if (!c.reason().empty()) {
        absl::StrAppend(&line, ": ", c.reason());
      }
      Line(line);
    } else if (event.has_checkpoint()) {
      const v1::CheckpointInfo& c = event.checkpoint();
      Line(absl::StrCat(Clock(event), " checkpoint ", c.id(), " at step ", c.step(), " (",
                        FormatBytes(c.size_bytes()), c.best() ? ", best" : "", ")"));
    } else if (event.has_log()) {
      Line(absl::StrCat("[rank ", event.log().rank(), "] ", event.log().text()));
    } else if (event.has_metric()) {
      const v1::MetricPoint& m = event.metric();
      if (m.name() == "loss") {
        progress_.step = m.step();
        progress_.loss = m.value();
        rate_.Add(EventTime(event), m.step());
        progress_.eta = rate_.Eta(progress_.total_steps);
        shown_ = true;
      } else if (m.name() == "clips_per_second") {
        progress_.clips_per_second = m.value();
      }
      if (shown_) {
        bar_.Update(FormatTrainingProgress(progress_), absl::Now());
      }
    }
  }

  void Resync(const v1::Job& job) {
    progress_.total_steps = job.total_steps();
    if (job.step() > 0) {
      progress_.step = job.step();
      progress_.loss = job.loss();
      shown_ = true;
    }
    if (job.clips_per_second() > 0) {
      progress_.clips_per_second = job.clips_per_second();
    }
  }

  // A line on stderr (the bar is on stdout, the same terminal).
  void Notice(const std::string& text) {
    bar_.Clear();
    ctx_.err() << text << "\n";
    ctx_.err().flush();
    bar_.Redraw();
  }

  void Finish() {
    if (shown_) {
      bar_.Update(FormatTrainingProgress(progress_), absl::Now(), /*force=*/true);
    }
    bar_.Finish();
  }

 private:
  void Line(const std::string& text) {
    bar_.Clear();
    ctx_.out() << text << "\n";
    ctx_.out().flush();
    bar_.Redraw();
  }

  Context& ctx_;
  ProgressBar bar_;
  RateEstimator rate_;
  TrainingProgress progress_;
  bool shown_ = false;
};

bool Retryable(const absl::Status& status) {
  return status.ok() || status.code() == absl::StatusCode::kUnavailable;
}

}  // namespace

absl::StatusOr<WatchLoopResult> RunWatchLoop(CoordinatorClient& client,
                                             const WatchLoopOptions& options,
                                             const WatchLoopCallbacks& callbacks) {
  WatchLoopResult result;
  result.last_seq = options.after_seq;
  v1::JobState known_state = v1::JOB_STATE_UNSPECIFIED;
  bool ever_received = false;
  bool first_snapshot_seen = false;
  int fruitless = 0;
  absl::Duration pause = options.tuning.reconnect_backoff;

  while (true) {
    v1::WatchJobRequest request;
    request.set_job_id(options.job_id);
    request.set_after_seq(result.last_seq);
    request.set_include_logs(options.include_logs);
    bool got_new = false;
    bool ended = false;
    absl::Status status = client.WatchJob(request, [&](const v1::JobEvent& event) {
      ever_received = true;
      if (event.has_snapshot()) {
        // Snapshots describe "now"; their seq is not part of the history.
        result.job = event.snapshot();
        known_state = event.snapshot().state();
        if (!first_snapshot_seen) {
          first_snapshot_seen = true;
          if (callbacks.on_event) {
            callbacks.on_event(event);
          }
        } else if (callbacks.on_resync) {
          callbacks.on_resync(event.snapshot());
        }
        return true;
      }
      if (event.seq() <= result.last_seq) {
        return true;  // delivered before the reconnect.
      }
      got_new = true;
      result.last_seq = event.seq();
      if (event.has_state()) {
        known_state = event.state().to();
        result.reason = event.state().reason();
      }
      if (callbacks.on_event) {
        callbacks.on_event(event);
      }
      if (event.has_state() && IsTerminal(event.state().to())) {
        ended = true;
        return false;
      }
      return true;
    });
    if (ended || (status.ok() && IsTerminal(known_state))) {
      result.final_state = known_state;
      if (!ended) {
        result.reason = result.job.state_reason();
      }
      return result;
    }
    if (!Retryable(status)) {
      return status;
    }
    if (!ever_received && !status.ok()) {
      return status;  // never got through: the coordinator is not there.
    }
    if (got_new) {
      fruitless = 0;
      pause = options.tuning.reconnect_backoff;
    } else if (++fruitless > options.tuning.max_failed_reconnects) {
      return status.ok() ? absl::UnavailableError(
                               absl::StrCat("the coordinator kept ending the watch of job ",
                                            options.job_id, " before the job ended"))
                         : status;
    }
    if (callbacks.on_reconnect) {
      callbacks.on_reconnect(status.ok() ? absl::UnavailableError("stream ended early") : status,
                             pause);
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, options.tuning.max_reconnect_backoff);
    ++result.reconnects;
  }
}

int WatchAndReport(Context& ctx, const std::string& job_id, bool include_logs) {
  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  // People on a terminal get the bar; pipes and -o json get JSON Lines.
  const bool live = ctx.out_is_tty() && ctx.format() == OutputFormat::kTable;
  const bool yaml = ctx.format() == OutputFormat::kYaml;
  std::optional<LivePrinter> printer;
  if (live) {
    printer.emplace(ctx);
  }
  absl::Status print_error = absl::OkStatus();

  WatchLoopOptions options;
  options.job_id = job_id;
  options.include_logs = include_logs;
  options.tuning = ctx.tuning();
  WatchLoopCallbacks callbacks;
  callbacks.on_event = [&](const v1::JobEvent& event) {
    if (live) {
      printer->OnEvent(event);
      return;
    }
    if (yaml) {
      absl::StatusOr<std::string> text = FormatMessage(event, OutputFormat::kYaml);
      if (text.ok()) {
        ctx.out() << "---\n" << *text;
      } else {
        print_error.Update(text.status());
      }
    } else {
      absl::StatusOr<std::string> text = MessageToJson(event, /*pretty=*/false);
      if (text.ok()) {
        ctx.out() << *text << "\n";
      } else {
        print_error.Update(text.status());
      }
    }
    ctx.out().flush();
  };
  callbacks.on_resync = [&](const v1::Job& job) {
    if (live) {
      printer->Resync(job);
    }
  };
  callbacks.on_reconnect = [&](const absl::Status&, absl::Duration) {
    if (live) {
      printer->Notice("connection lost, reconnecting...");
    } else {
      ctx.err() << "connection lost, reconnecting...\n";
      ctx.err().flush();
    }
  };

  absl::StatusOr<WatchLoopResult> result = RunWatchLoop(**client, options, callbacks);
  if (live) {
    printer->Finish();
  }
  if (!result.ok()) {
    return ctx.Fail(ctx.Explain(result.status(), job_id));
  }
  if (!print_error.ok()) {
    return ctx.Fail(print_error);
  }
  const std::string state = JobStateName(result->final_state);
  const std::string reason = result->reason.empty() ? "" : absl::StrCat(": ", result->reason);
  if (result->final_state == v1::JOB_STATE_SUCCEEDED) {
    if (live) {
      ctx.out() << "job " << job_id << " SUCCEEDED" << reason << "\n";
    }
    return kExitOk;
  }
  if (result->final_state == v1::JOB_STATE_FAILED) {
    // The last snapshot may predate the failure; ask for its kind.
    v1::FailureKind failure = result->job.failure_kind();
    absl::StatusOr<v1::GetJobResponse> now = (*client)->GetJob(job_id);
    if (now.ok()) {
      failure = now->job().failure_kind();
    }
    std::string kind = failure != v1::FAILURE_KIND_UNSPECIFIED
                           ? absl::StrCat(" (", FailureKindName(failure), ")")
                           : "";
    ctx.err() << "job " << job_id << " FAILED" << kind << reason << "; see 'vmaectl logs " << job_id
              << "' and 'vmaectl describe " << job_id << "'\n";
    return kExitFailed;
  }
  ctx.err() << "job " << job_id << " " << state << reason << "\n";
  return kExitFailed;
}

int RunWatch(Context& ctx) { return WatchAndReport(ctx, ctx.cmd().args[0], ctx.cmd().Has("logs")); }

}  // namespace vmae::client
