// The shared frame of a verb: --help, flag parsing, and one stderr line with
// the exit code for a failure.
#ifndef VMAE_WORKER_TOOL_RUN_VERB_H_
#define VMAE_WORKER_TOOL_RUN_VERB_H_

#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/tool/exit_codes.h"
#include "worker/tool/flag_parser.h"

namespace vmae::tool {

template <typename Body>
int RunVerb(const char* verb, const char* usage, const std::vector<FlagSpec>& flags,
            const std::vector<std::string>& args, Body body) {
  if (WantsHelp(args)) {
    std::printf("%s\nFlags:\n%s", usage, FlagsHelp(flags).c_str());
    return kExitOk;
  }
  absl::StatusOr<ParsedFlags> parsed = ParseFlags(args, flags);
  if (!parsed.ok()) {
    std::fprintf(stderr, "vmae %s: %s\n", verb, std::string(parsed.status().message()).c_str());
    return kExitUsage;
  }
  const absl::Status status = body(*parsed);
  if (!status.ok()) {
    std::fprintf(stderr, "vmae %s: %s\n", verb, std::string(status.message()).c_str());
    return ExitCodeFor(status);
  }
  return kExitOk;
}

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_RUN_VERB_H_
