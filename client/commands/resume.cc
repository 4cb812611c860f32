// vmaectl resume ID [--reason R]: ResumeJob, then the job's new state.
#include "client/commands/commands.h"

namespace vmae::client {

int RunResume(Context& ctx) { return ChangeJobState(ctx, "resume", &CoordinatorClient::ResumeJob); }

}  // namespace vmae::client
