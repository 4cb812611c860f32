// One line per event on stderr:
//   2026-11-27T22:40:01.123Z INFO  job=j-0123 rank=0 attempt=1 message
// Fields that do not apply are left out. Thread-safe (one write per line).
#ifndef VMAE_COMMON_LOGGING_H_
#define VMAE_COMMON_LOGGING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace vmae {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Context fields printed before the message.
struct LogContext {
  std::string job;
  int rank = -1;
  int attempt = -1;
};

// Lines below this level are dropped. Default kInfo; VMAE_LOG_LEVEL=debug
// in the environment lowers it.
void SetMinLogLevel(LogLevel level);

void LogLine(LogLevel level, const LogContext& ctx, absl::string_view message);

inline void LogInfo(absl::string_view message) { LogLine(LogLevel::kInfo, {}, message); }
inline void LogWarning(absl::string_view message) { LogLine(LogLevel::kWarning, {}, message); }
inline void LogError(absl::string_view message) { LogLine(LogLevel::kError, {}, message); }
inline void LogJob(LogLevel level, absl::string_view job, absl::string_view message) {
  LogLine(level, LogContext{std::string(job)}, message);
}

}  // namespace vmae

#endif  // VMAE_COMMON_LOGGING_H_
