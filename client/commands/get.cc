// vmaectl get ID: GetJob, printed as a table row or the whole Job.
#include "client/commands/commands.h"

namespace vmae::client {

int RunGet(Context& ctx) {
  const std::string& id = ctx.cmd().args[0];
  absl::StatusOr<CoordinatorClient*> client = ctx.Client();
  if (!client.ok()) {
    return ctx.Fail(client.status());
  }
  absl::StatusOr<v1::GetJobResponse> response = (*client)->GetJob(id);
  if (!response.ok()) {
    return ctx.Fail(ctx.Explain(response.status(), id));
  }
  return PrintJob(ctx, response->job());
}

}  // namespace vmae::client
