// vmaectl pause ID [--reason R]: PauseJob, then the job's new state.
#include "client/commands/commands.h"

namespace vmae::client {

int RunPause(Context& ctx) { return ChangeJobState(ctx, "pause", &CoordinatorClient::PauseJob); }

}  // namespace vmae::client
