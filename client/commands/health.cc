// vmaectl health: the coordinator's gRPC health check (container probes).
#include "client/commands/commands.h"
#include "client/exit_codes.h"

namespace vmae::client {

int RunHealth(Context& ctx) {
  auto client = ctx.Client();
  if (!client.ok()) return ctx.Fail(client.status());
  absl::Status s = (*client)->CheckHealth();
  if (!s.ok()) return ctx.Fail(ctx.Explain(s));
  ctx.out() << "SERVING\n";
  return kExitOk;
}

}  // namespace vmae::client
