// Splits a byte stream (a trainer's stdout or stderr) into lines, capping a
// line at a maximum length so a trainer that prints megabytes without a
// newline cannot exhaust the agent's memory. Not thread-safe.
#ifndef VMAE_WORKER_AGENT_LINE_BUFFER_H_
#define VMAE_WORKER_AGENT_LINE_BUFFER_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace vmae::worker {

class LineBuffer {
 public:
  static constexpr size_t kDefaultMaxLine = 64 * 1024;
  // emit(line, truncated): called once per line, without the newline (and
  // without a trailing '\r'). A line longer than max_line is emitted cut to
  // max_line with truncated = true; the rest of it, up to its newline, is
  // dropped.
  using Emit = std::function<void(absl::string_view line, bool truncated)>;

  explicit LineBuffer(size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  void Append(absl::string_view data, const Emit& emit);
  // End of stream: emits a last line that had no newline.
  void Finish(const Emit& emit);

 private:
  size_t max_line_;
  std::string partial_;
  bool skipping_ = false;  // inside the dropped tail of an over-long line
};

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_LINE_BUFFER_H_
