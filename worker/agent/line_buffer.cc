#include "worker/agent/line_buffer.h"

namespace vmae::worker {

namespace {
absl::string_view StripCr(absl::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}
}  // namespace

void LineBuffer::Append(absl::string_view data, const Emit& emit) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    absl::string_view piece = nl == absl::string_view::npos ? data : data.substr(0, nl);
    if (!skipping_) {
      size_t room = max_line_ - partial_.size();
      if (piece.size() > room) {
        partial_.append(piece.data(), room);
        emit(partial_, true);
        partial_.clear();
        skipping_ = true;
      } else {
        partial_.append(piece.data(), piece.size());
        if (nl != absl::string_view::npos) {
          emit(StripCr(partial_), false);
          partial_.clear();
        }
      }
    }
    if (nl == absl::string_view::npos) break;
    skipping_ = false;  // the newline ends whatever line we were in
    data.remove_prefix(nl + 1);
  }
}

void LineBuffer::Finish(const Emit& emit) {
  if (!skipping_ && !partial_.empty()) emit(StripCr(partial_), false);
  partial_.clear();
  skipping_ = false;
}

}  // namespace vmae::worker
