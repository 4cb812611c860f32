// vmaectl's exit codes, one per kind of outcome, so scripts can branch on
// them. `vmaectl --help` prints this table (kExitCodeHelp).
#ifndef VMAE_CLIENT_EXIT_CODES_H_
#define VMAE_CLIENT_EXIT_CODES_H_

#include "absl/status/status.h"

namespace vmae::client {

enum ExitCode : int {
  kExitOk = 0,                  // done.
  kExitFailed = 1,              // the operation failed; watch: job FAILED or CANCELLED.
  kExitUsage = 2,               // bad command line or invalid job file (INVALID_ARGUMENT).
  kExitUnreachable = 3,         // coordinator unreachable (UNAVAILABLE, DEADLINE_EXCEEDED).
  kExitAuth = 4,                // UNAUTHENTICATED or PERMISSION_DENIED.
  kExitNotFound = 5,            // unknown job or checkpoint (NOT_FOUND).
  kExitFailedPrecondition = 6,  // the job's state forbids it (FAILED_PRECONDITION).
};

// The exit code for a failed call (kExitOk for an OK status).
inline int ExitCodeForStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return kExitUnreachable;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitAuth;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kFailedPrecondition:
      return kExitFailedPrecondition;
    default:
      return kExitFailed;
  }
}

inline constexpr char kExitCodeHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the operation failed; for watch/submit --watch: the job ended FAILED or CANCELLED\n"
    "  2  usage error or invalid job file (INVALID_ARGUMENT)\n"
    "  3  coordinator unreachable (UNAVAILABLE, DEADLINE_EXCEEDED)\n"
    "  4  token missing, rejected or not allowed (UNAUTHENTICATED, PERMISSION_DENIED)\n"
    "  5  unknown job or checkpoint (NOT_FOUND)\n"
    "  6  the job's state forbids the operation (FAILED_PRECONDITION)\n";

}  // namespace vmae::client

#endif  // VMAE_CLIENT_EXIT_CODES_H_
