// vmaectl cancel ID [--reason R]: CancelJob, then the job's new state.
#include "client/commands/commands.h"

namespace vmae::client {

int RunCancel(Context& ctx) { return ChangeJobState(ctx, "cancel", &CoordinatorClient::CancelJob); }

}  // namespace vmae::client
