// vmaectl version (also --version): the client's version. The API has no
// server version call.
#include "client/commands/commands.h"
#include "client/exit_codes.h"

#ifndef VMAE_VERSION
#define VMAE_VERSION "unknown"
#endif

namespace vmae::client {

int RunVersion(Context& ctx) {
  if (ctx.format() == OutputFormat::kJson) {
    ctx.out() << "{\n  \"client_version\": \"" << VMAE_VERSION << "\"\n}\n";
  } else if (ctx.format() == OutputFormat::kYaml) {
    ctx.out() << "client_version: " << VMAE_VERSION << "\n";
  } else {
    ctx.out() << "vmaectl " << VMAE_VERSION << "\n";
  }
  return kExitOk;
}

}  // namespace vmae::client
