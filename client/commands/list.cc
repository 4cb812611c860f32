// vmaectl list: ListJobs, every page.
#include <set>

#include "absl/strings/str_split.h"
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {

int RunList(Context& ctx) {
  v1::ListJobsRequest request;
  std::set<int> states;
  for (const std::string& value : ctx.cmd().GetAll("state")) {
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      absl::StatusOr<v1::JobState> state = ParseJobState(part);
      if (!state.ok()) {
        return ctx.Fail(state.status());
      }
      states.insert(*state);
    }
  }
  if (states.empty() && !ctx.cmd().Has("all")) {
    for (v1::JobState s : {v1::JOB_STATE_QUEUED, v1::JOB_STATE_RUNNING, v1::JOB_STATE_RESTARTING,
                           v1::JOB_STATE_PAUSING, v1::JOB_STATE_PAUSED, v1::JOB_STATE_CANCELLING}) {
      states.insert(s);
    }
  }
  for (int s : states) {
    request.add_states(static_cast<v1::JobState>(s));
  }
  request.set_owner(ctx.cmd().Get("owner"));
  request.set_name_contains(ctx.cmd().Get("name"));
  request.set_page_size(500);

  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  std::vector<v1::Job> jobs;
  std::set<std::string> tokens_seen;
  while (true) {
    absl::StatusOr<v1::ListJobsResponse> page = (*client)->ListJobs(request);
    if (!page.ok()) {
      return ctx.Fail(ctx.Explain(page.status()));
    }
    for (v1::Job& job : *page->mutable_jobs()) {
      jobs.push_back(std::move(job));
    }
    // Stop on the last page, and on a server that repeats a token.
    if (page->next_page_token().empty() || !tokens_seen.insert(page->next_page_token()).second) {
      break;
    }
    request.set_page_token(page->next_page_token());
  }

  if (ctx.format() != OutputFormat::kTable) {
    std::vector<const google::protobuf::Message*> messages;
    for (const v1::Job& job : jobs) {
      messages.push_back(&job);
    }
    absl::StatusOr<std::string> text = FormatMessageList(messages, ctx.format());
    if (!text.ok()) {
      return ctx.Fail(text.status());
    }
    ctx.out() << *text;
    return kExitOk;
  }
  if (jobs.empty()) {
    ctx.err() << (ctx.cmd().Has("all") || ctx.cmd().Has("state")
                      ? "No jobs found.\n"
                      : "No active jobs; 'vmaectl list --all' includes jobs that ended.\n");
    return kExitOk;
  }
  Table table(JobTableHeader());
  absl::Time now = absl::Now();
  for (const v1::Job& job : jobs) {
    table.AddRow(JobTableRow(job, now));
  }
  ctx.out() << table.Render();
  return kExitOk;
}

}  // namespace vmae::client
