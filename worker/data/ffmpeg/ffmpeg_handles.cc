#include "worker/data/ffmpeg/ffmpeg_handles.h"

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
}

namespace vmae::ffmpeg {

void OutputFormatDeleter::operator()(AVFormatContext* p) const {
  if (p == nullptr) return;
  if (p->pb != nullptr && (p->oformat->flags & AVFMT_NOFILE) == 0) avio_closep(&p->pb);
  avformat_free_context(p);
}

void AvioContextDeleter::operator()(AVIOContext* p) const {
  if (p != nullptr) av_freep(&p->buffer);
  avio_context_free(&p);
}

std::string AvErrorText(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, buf, sizeof(buf));
  return buf;
}

absl::Status AvError(int code, absl::string_view what) {
  const std::string message = absl::StrCat(what, ": ", AvErrorText(code));
  if (code == AVERROR(ENOENT)) return absl::NotFoundError(message);
  if (code == AVERROR(EACCES) || code == AVERROR(EROFS)) {
    return absl::PermissionDeniedError(message);
  }
  if (code == AVERROR_INVALIDDATA) return absl::DataLossError(message);
  if (code == AVERROR(ENOMEM)) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

void QuietFfmpegLog() { av_log_set_level(AV_LOG_FATAL); }

}  // namespace vmae::ffmpeg
