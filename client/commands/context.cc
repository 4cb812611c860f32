// Context (connecting, error wording) and helpers shared by the commands.
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {
namespace {

bool ContainsIgnoreCase(absl::string_view haystack, absl::string_view needle) {
  return absl::StrContains(absl::AsciiStrToLower(haystack), absl::AsciiStrToLower(needle));
}

// One line of at most `limit` characters.
std::string OneLine(absl::string_view text, size_t limit = 200) {
  std::string s = absl::StrReplaceAll(text, {{"\r\n", "; "}, {"\n", "; "}, {"\r", " "}});
  if (s.size() > limit) {
    s = absl::StrCat(s.substr(0, limit - 3), "...");
  }
  return s;
}

// Why a connection failed, in a few words, from gRPC's UNAVAILABLE text.
std::string ConnectDetail(absl::string_view message) {
  if (ContainsIgnoreCase(message, "connection refused")) {
    return "connection refused";
  }
  if (ContainsIgnoreCase(message, "dns resolution failed") ||
      ContainsIgnoreCase(message, "name or service not known") ||
      ContainsIgnoreCase(message, "could not resolve")) {
    return "unknown host";
  }
  if (ContainsIgnoreCase(message, "timed out") || ContainsIgnoreCase(message, "timeout")) {
    return "connection timed out";
  }
  if (ContainsIgnoreCase(message, "no route to host")) {
    return "no route to host";
  }
  return OneLine(message, 160);
}

bool LooksLikeTlsProblem(absl::string_view message) {
  return ContainsIgnoreCase(message, "handshake") || ContainsIgnoreCase(message, "ssl") ||
         ContainsIgnoreCase(message, "certificate") || ContainsIgnoreCase(message, "tls");
}

}  // namespace

absl::StatusOr<CoordinatorClient*> Context::Client() {
  if (client_ != nullptr) {
    return client_.get();
  }
  const GlobalOptions& g = global();
  ClientOptions options;
  options.server = g.server;
  options.token = g.token;
  options.tls_ca_file = g.tls_ca;
  options.timeout = g.timeout;
  options.retry_backoff = tuning_.submit_retry_backoff;
  if (!g.token_file.empty()) {
    std::ifstream in(g.token_file);
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read the token file ", g.token_file, "; check --token-file"));
    }
    std::string line;
    std::getline(in, line);
    options.token = std::string(absl::StripAsciiWhitespace(line));
    if (options.token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token file ", g.token_file, " is empty; check --token-file"));
    }
  }
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client = CoordinatorClient::Create(options);
  if (!client.ok()) {
    return client.status();
  }
  client_ = *std::move(client);
  return client_.get();
}

absl::Status Context::Explain(const absl::Status& status, absl::string_view job_id) const {
  if (status.ok()) {
    return status;
  }
  const std::string& server = global().server;
  const absl::string_view msg = status.message();
  const std::string job_ref = job_id.empty() ? "ID" : std::string(job_id);
  std::string text;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      if (!global().tls_ca.empty() && LooksLikeTlsProblem(msg)) {
        text = absl::StrCat("cannot reach the coordinator at ", server, " over TLS (",
                            OneLine(msg, 160),
                            "); check --tls-ca and that the coordinator serves TLS");
      } else {
        text = absl::StrCat("cannot reach the coordinator at ", server, " (", ConnectDetail(msg),
                            "); is it running? set --server or VMAE_SERVER");
      }
      break;
    case absl::StatusCode::kDeadlineExceeded:
      text = absl::StrCat("the coordinator at ", server, " did not answer within ",
                          absl::FormatDuration(global().timeout),
                          "; is it running and reachable? set --server, or raise --timeout");
      break;
    case absl::StatusCode::kUnauthenticated:
      if (global().token.empty() && global().token_file.empty()) {
        text =
            "the coordinator requires a token (UNAUTHENTICATED); set --token or VMAE_TOKEN to a "
            "token from the coordinator's --auth-tokens file";
      } else {
        text =
            "the coordinator rejected the token (UNAUTHENTICATED); set --token or VMAE_TOKEN to "
            "a token from the coordinator's --auth-tokens file";
      }
      break;
    case absl::StatusCode::kPermissionDenied:
      text = absl::StrCat(
          "permission denied: ", OneLine(msg),
          " (PERMISSION_DENIED); only the job's owner or an admin may do this, with a user "
          "token (not an agent's)");
      break;
    case absl::StatusCode::kNotFound:
      if (ContainsIgnoreCase(msg, "checkpoint")) {
        text = absl::StrCat(OneLine(msg), "; list checkpoints with 'vmaectl checkpoints ", job_ref,
                            "'");
      } else if (!job_id.empty()) {
        text = absl::StrCat("job ", job_id, " not found; list jobs with 'vmaectl list --all'");
      } else {
        text = absl::StrCat(OneLine(msg), "; list jobs with 'vmaectl list --all'");
      }
      break;
    case absl::StatusCode::kFailedPrecondition:
      text = absl::StrCat(OneLine(msg), "; see its state with 'vmaectl describe ", job_ref, "'");
      break;
    case absl::StatusCode::kInvalidArgument:
      // Job spec errors list every problem, one per line: keep them.
      text = std::string(msg);
      break;
    case absl::StatusCode::kUnimplemented:
      text = absl::StrCat("the server at ", server, " does not implement this call (",
                          OneLine(msg, 160),
                          "); is --server a vmae coordinator, of a version this vmaectl knows?");
      break;
    default:
      text = absl::StrCat(OneLine(msg), " (", absl::StatusCodeToString(status.code()), ")");
      break;
  }
  return absl::Status(status.code(), text);
}

int Context::Fail(const absl::Status& status) {
  std::string message(status.message());
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    message = OneLine(message, 400);
  }
  err() << "error: " << message << "\n";
  err().flush();
  int code = ExitCodeForStatus(status);
  return code == kExitOk ? kExitFailed : code;
}

std::string StepCell(const v1::Job& job) {
  if (job.total_steps() > 0) {
    return absl::StrCat(job.step(), "/", job.total_steps());
  }
  if (job.step() > 0) {
    return absl::StrCat(job.step());
  }
  return "-";
}

std::vector<std::string> JobTableHeader() {
  return {"ID", "NAME", "KIND", "STATE", "OWNER", "STEP", "LOSS", "AGE"};
}

std::vector<std::string> JobTableRow(const v1::Job& job, absl::Time now) {
  return {job.id(),
          job.name().empty() ? "-" : job.name(),
          JobKindName(job.spec().kind()),
          JobStateName(job.state()),
          job.owner().empty() ? "-" : job.owner(),
          StepCell(job),
          job.step() > 0 ? FormatLoss(job.loss()) : "-",
          FormatTimestampAge(job.create_time(), now)};
}

int PrintJob(Context& ctx, const v1::Job& job) {
  if (ctx.format() == OutputFormat::kTable) {
    Table table(JobTableHeader());
    table.AddRow(JobTableRow(job, absl::Now()));
    ctx.out() << table.Render();
    return kExitOk;
  }
  absl::StatusOr<std::string> text = FormatMessage(job, ctx.format());
  if (!text.ok()) {
    return ctx.Fail(text.status());
  }
  ctx.out() << *text;
  return kExitOk;
}

int ChangeJobState(Context& ctx, absl::string_view verb, JobRefCall call) {
  const std::string& id = ctx.cmd().args[0];
  v1::JobRef request;
  request.set_job_id(id);
  request.set_reason(ctx.cmd().Get("reason"));
  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::Job> job = ((*client)->*call)(request);
  if (!job.ok()) {
    absl::Status status = job.status();
    if (status.code() == absl::StatusCode::kFailedPrecondition) {
      status = absl::FailedPreconditionError(
          absl::StrCat("cannot ", verb, " job ", id, ": ", status.message()));
    }
    return ctx.Fail(ctx.Explain(status, id));
  }
  if (ctx.format() != OutputFormat::kTable) {
    return PrintJob(ctx, *job);
  }
  ctx.out() << "job " << job->id() << " " << JobStateName(job->state()) << "\n";
  return kExitOk;
}

}  // namespace vmae::client
