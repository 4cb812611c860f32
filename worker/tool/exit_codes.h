// Exit codes of the `vmae` tool, with the meanings vmaectl gives them
// (client/exit_codes.h) so that scripts branch on both the same way.
#ifndef VMAE_WORKER_TOOL_EXIT_CODES_H_
#define VMAE_WORKER_TOOL_EXIT_CODES_H_

#include "absl/status/status.h"

namespace vmae::tool {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;              // the work itself failed.
inline constexpr int kExitUsage = 2;               // bad flags, or an invalid input file.
inline constexpr int kExitNotFound = 5;            // an input does not exist.
inline constexpr int kExitFailedPrecondition = 6;  // e.g. a newer checkpoint format.

// The exit code for a failed status.
inline int ExitCodeFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk: return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kOutOfRange: return kExitUsage;
    case absl::StatusCode::kNotFound: return kExitNotFound;
    case absl::StatusCode::kFailedPrecondition: return kExitFailedPrecondition;
    default: return kExitFailed;
  }
}

inline constexpr char kExitCodeHelp[] =
    "Exit codes: 0 success; 1 failed; 2 usage error or invalid input; 5 input not found;\n"
    "  6 input needs a newer vmae\n";

}  // namespace vmae::tool

#endif  // VMAE_WORKER_TOOL_EXIT_CODES_H_
