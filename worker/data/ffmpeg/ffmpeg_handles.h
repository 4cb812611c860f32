// RAII owners for FFmpeg objects, and FFmpeg error codes as text and as
// absl::Status. The one place that calls FFmpeg's free functions.
#ifndef VMAE_WORKER_DATA_FFMPEG_FFMPEG_HANDLES_H_
#define VMAE_WORKER_DATA_FFMPEG_FFMPEG_HANDLES_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavformat/avio.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

namespace vmae::ffmpeg {

// Deleters for FFmpeg's two free-function shapes: `free(T**)` (which also
// nulls the pointer) and `free(T*)`.
template <typename T, void (*Free)(T**)>
struct PtrPtrDeleter {
  void operator()(T* p) const { Free(&p); }
};
template <typename T, void (*Free)(T*)>
struct PtrDeleter {
  void operator()(T* p) const { Free(p); }
};

// A demuxer: avformat_close_input frees the context and its streams. It
// leaves a custom pb (AVFMT_FLAG_CUSTOM_IO) alone; see UniqueAvioContext.
using UniqueInputFormat =
    std::unique_ptr<AVFormatContext, PtrPtrDeleter<AVFormatContext, avformat_close_input>>;

// A muxer: unlike a demuxer it is freed with avformat_free_context, and its
// AVIOContext (opened separately with avio_open) is closed first.
struct OutputFormatDeleter {
  void operator()(AVFormatContext* p) const;
};
using UniqueOutputFormat = std::unique_ptr<AVFormatContext, OutputFormatDeleter>;

using UniqueCodecContext =
    std::unique_ptr<AVCodecContext, PtrPtrDeleter<AVCodecContext, avcodec_free_context>>;
using UniqueFrame = std::unique_ptr<AVFrame, PtrPtrDeleter<AVFrame, av_frame_free>>;
using UniquePacket = std::unique_ptr<AVPacket, PtrPtrDeleter<AVPacket, av_packet_free>>;
using UniqueSwsContext = std::unique_ptr<SwsContext, PtrDeleter<SwsContext, sws_freeContext>>;

// A custom-I/O context from avio_alloc_context. It owns neither its opaque
// nor (officially) its buffer, but FFmpeg may have replaced the buffer we
// allocated, so the deleter frees ctx->buffer, whichever it is now.
struct AvioContextDeleter {
  void operator()(AVIOContext* p) const;
};
using UniqueAvioContext = std::unique_ptr<AVIOContext, AvioContextDeleter>;

// av_strerror's text for an FFmpeg error code.
std::string AvErrorText(int code);

// `code`'s av_strerror text, prefixed with what was being done ("<what>:
// <text>"), with the closest status code: NOT_FOUND, PERMISSION_DENIED,
// DATA_LOSS (invalid data), RESOURCE_EXHAUSTED (no memory), else INTERNAL.
absl::Status AvError(int code, absl::string_view what);

// Turns FFmpeg's own log (encoder banners, x264 statistics, demuxer
// complaints) down to fatal errors, process-wide: a command-line verb reports
// failures itself, as one line, and keeps stderr quiet on success.
void QuietFfmpegLog();

}  // namespace vmae::ffmpeg

#endif  // VMAE_WORKER_DATA_FFMPEG_FFMPEG_HANDLES_H_
