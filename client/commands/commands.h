// vmaectl's subcommands (one file each under client/commands/) and what they
// share: the Context a command runs in, error wording, and the reusable
// loops behind `watch`, `logs` and `download` (tested against a fake
// coordinator in tests/client/).
#ifndef VMAE_CLIENT_COMMANDS_COMMANDS_H_
#define VMAE_CLIENT_COMMANDS_COMMANDS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/coordinator_client.h"
#include "client/output.h"
#include "vmae/v1/job_service.pb.h"

namespace vmae::client {

// Where a command prints, and whether those are terminals.
struct Io {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_is_tty = false;
  bool err_is_tty = false;
};

// Retry pacing; tests shorten it.
struct Tuning {
  // Pause before the first reconnect of a stream, doubled up to the maximum.
  absl::Duration reconnect_backoff = absl::Milliseconds(500);
  absl::Duration max_reconnect_backoff = absl::Seconds(10);
  // Reconnects in a row that bring no new event before giving up.
  int max_failed_reconnects = 30;
  // SubmitJob's first retry pause after UNAVAILABLE.
  absl::Duration submit_retry_backoff = absl::Milliseconds(500);
};

// What one command invocation runs with. Not thread-safe.
class Context {
 public:
  Context(const ParsedCommandLine& cmd, Io io, Tuning tuning)
      : cmd_(cmd), io_(io), tuning_(tuning) {}

  const ParsedCommandLine& cmd() const { return cmd_; }
  const GlobalOptions& global() const { return cmd_.global; }
  OutputFormat format() const { return cmd_.global.format; }
  std::ostream& out() { return *io_.out; }
  std::ostream& err() { return *io_.err; }
  bool out_is_tty() const { return io_.out_is_tty; }
  bool err_is_tty() const { return io_.err_is_tty; }
  const Tuning& tuning() const { return tuning_; }

  // The coordinator client, made on first use (reads --token-file and
  // --tls-ca then). Errors are already worded for the user.
  absl::StatusOr<CoordinatorClient*> Client();

  // Words a failed call's status as the one line vmaectl prints (same code):
  // what happened and what to do next. `job_id` names the job for NOT_FOUND
  // and FAILED_PRECONDITION.
  absl::Status Explain(const absl::Status& status, absl::string_view job_id = "") const;

  // Prints "error: <message>" to stderr and returns the exit code for it.
  int Fail(const absl::Status& status);

 private:
  const ParsedCommandLine& cmd_;
  Io io_;
  Tuning tuning_;
  std::unique_ptr<CoordinatorClient> client_;
};

// The verbs, in help order.
const std::vector<VerbSpec>& VerbSpecs();

// Runs vmaectl; returns the process exit code.
int RunVmaectl(const std::vector<std::string>& argv, const EnvLookup& env, Io io,
               Tuning tuning = {});

// One function per verb, each returns the exit code.
int RunSubmit(Context& ctx);
int RunList(Context& ctx);
int RunGet(Context& ctx);
int RunDescribe(Context& ctx);
int RunCancel(Context& ctx);
int RunPause(Context& ctx);
int RunResume(Context& ctx);
int RunWatch(Context& ctx);
int RunLogs(Context& ctx);
int RunMetrics(Context& ctx);
int RunCheckpoints(Context& ctx);
int RunDownload(Context& ctx);
int RunWorkers(Context& ctx);
int RunVersion(Context& ctx);
int RunHealth(Context& ctx);

// Shared by `watch` and `submit --watch`: follows job_id until it ends and
// returns the exit code (0 SUCCEEDED, 1 FAILED/CANCELLED).
int WatchAndReport(Context& ctx, const std::string& job_id, bool include_logs);

// ---- The WatchJob loop ------------------------------------------------------

struct WatchLoopOptions {
  std::string job_id;
  bool include_logs = false;
  int64_t after_seq = 0;  // resume after this event.
  Tuning tuning;
};

struct WatchLoopCallbacks {
  // Each event exactly once, in seq order; the first snapshot too (later
  // snapshots, after a reconnect, go to on_resync).
  std::function<void(const v1::JobEvent&)> on_event;
  // The snapshot that starts every reconnected stream.
  std::function<void(const v1::Job&)> on_resync;
  // A dropped stream, before the pause that precedes the reconnect.
  std::function<void(const absl::Status& why, absl::Duration pause)> on_reconnect;
};

struct WatchLoopResult {
  v1::JobState final_state = v1::JOB_STATE_UNSPECIFIED;  // terminal.
  v1::Job job;                                           // last snapshot seen.
  std::string reason;    // reason of the terminal transition, if seen.
  int64_t last_seq = 0;  // last event delivered.
  int reconnects = 0;
};

// Streams WatchJob until the job reaches a terminal state. A stream that
// fails with UNAVAILABLE, or ends before a terminal state, is reopened with
// after_seq = the last seq seen, after a growing pause; events with a seq
// already delivered are dropped. Fails at once on other errors, and on
// UNAVAILABLE before anything was ever received (the coordinator is not
// there), or after tuning.max_failed_reconnects fruitless reconnects.
absl::StatusOr<WatchLoopResult> RunWatchLoop(CoordinatorClient& client,
                                             const WatchLoopOptions& options,
                                             const WatchLoopCallbacks& callbacks);

// ---- The StreamLogs loop ----------------------------------------------------

// Streams log lines until the server ends the stream, reconnecting after
// UNAVAILABLE with after_seq = the last line's seq (same rules as
// RunWatchLoop).
absl::Status RunLogsLoop(
    CoordinatorClient& client, v1::StreamLogsRequest request, const Tuning& tuning,
    const std::function<void(const v1::LogLine&)>& on_line,
    const std::function<void(const absl::Status&, absl::Duration)>& on_reconnect);

// ---- DownloadCheckpoint into a directory ------------------------------------

struct DownloadedFile {
  std::string path;  // dir/name.
  int64_t size = 0;
  std::string sha256;
};

// Writes each announced file to dir/<name>.part while hashing it, checks its
// size and SHA-256 when it is complete, fsyncs it, and renames every file
// into place only once the whole stream succeeded (then fsyncs the
// directory). Any failure removes every .part file of this download, so no
// file is left behind. File names with '/' or ".." are refused. `dir` is
// created when missing (and removed again, if still empty, on failure). on_progress(name, done,
// total) follows each chunk.
absl::StatusOr<std::vector<DownloadedFile>> DownloadToDirectory(
    CoordinatorClient& client, const v1::DownloadCheckpointRequest& request, const std::string& dir,
    const std::function<void(const std::string&, int64_t, int64_t)>& on_progress);

// ---- Small helpers shared by the commands -----------------------------------

// "1200/5000", "1200" (total unknown) or "-" (not started).
std::string StepCell(const v1::Job& job);
// A `list`/`get` table row and its header.
std::vector<std::string> JobTableHeader();
std::vector<std::string> JobTableRow(const v1::Job& job, absl::Time now);
// Prints a job in the chosen format: a one-row table, or the whole message.
int PrintJob(Context& ctx, const v1::Job& job);
// cancel / pause / resume: sends JobRef{ID, --reason} with `call` and prints
// "job ID <NEW STATE>" (or the Job with -o json|yaml).
using JobRefCall = absl::StatusOr<v1::Job> (CoordinatorClient::*)(const v1::JobRef&);
int ChangeJobState(Context& ctx, absl::string_view verb, JobRefCall call);

}  // namespace vmae::client

#endif  // VMAE_CLIENT_COMMANDS_COMMANDS_H_
