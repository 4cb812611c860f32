#include "worker/data/video/memory_input.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "worker/data/bad_sample.h"

namespace vmae::video {
namespace {

using data::BadSampleError;
using data::BadSampleKind;

constexpr int kAvioBufferSize = 64 * 1024;

}  // namespace

int MemoryInput::Read(void* opaque, uint8_t* buf, int size) {
  auto* self = static_cast<MemoryInput*>(opaque);
  int64_t left = self->size() - self->pos_;
  if (left <= 0) {
    return AVERROR_EOF;
  }
  int n = static_cast<int>(std::min<int64_t>(left, size));
  std::memcpy(buf, self->bytes_->data() + self->pos_, static_cast<size_t>(n));
  self->pos_ += n;
  return n;
}

int64_t MemoryInput::Seek(void* opaque, int64_t offset, int whence) {
  auto* self = static_cast<MemoryInput*>(opaque);
  whence &= ~AVSEEK_FORCE;
  int64_t target = 0;
  switch (whence) {
    case AVSEEK_SIZE:
      return self->size();
    case SEEK_SET:
      target = offset;
      break;
    case SEEK_CUR:
      target = self->pos_ + offset;
      break;
    case SEEK_END:
      target = self->size() + offset;
      break;
    default:
      return AVERROR(EINVAL);
  }
  // Like lseek(2), a position past the end is allowed; reads there give EOF,
  // which is how demuxers notice that a file was cut short.
  if (target < 0) {
    return AVERROR(EINVAL);
  }
  self->pos_ = target;
  return target;
}

int MemoryInput::Interrupt(void* opaque) {
  return static_cast<MemoryInput*>(opaque)->deadline_passed() ? 1 : 0;
}

absl::StatusOr<std::unique_ptr<MemoryInput>> MemoryInput::Open(const EncodedVideo& video,
                                                               absl::Time deadline) {
  if (video.bytes == nullptr || video.bytes->empty()) {
    return BadSampleError(BadSampleKind::kEmpty,
                          absl::StrCat("video ", video.name, " has no bytes; read it first"));
  }
  std::unique_ptr<MemoryInput> input(new MemoryInput(video.bytes));
  input->deadline_ = deadline;
  if (input->deadline_passed()) {
    return BadSampleError(BadSampleKind::kTimeout,
                          absl::StrCat("time limit passed before opening video ", video.name));
  }
  auto* buffer = static_cast<uint8_t*>(av_malloc(kAvioBufferSize));
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory allocating an I/O buffer for video ", video.name));
  }
  input->avio_.reset(avio_alloc_context(buffer, kAvioBufferSize, /*write_flag=*/0, input.get(),
                                        &MemoryInput::Read, nullptr, &MemoryInput::Seek));
  if (input->avio_ == nullptr) {
    av_free(buffer);
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory allocating an I/O context for video ", video.name));
  }

  // Probe separately from avformat_open_input, so "no demuxer at all" (not a
  // video) can be told apart from "a demuxer, but the header is broken". The
  // name is not passed: the extension would let the tty demuxer claim any
  // .txt file. av_probe_input_buffer2 rewinds the context to byte 0.
  const AVInputFormat* format = nullptr;
  int score = av_probe_input_buffer2(input->avio_.get(), &format, "", nullptr, 0, 0);
  if (score < 0 || format == nullptr) {
    return BadSampleError(
        BadSampleKind::kNotVideo,
        absl::StrCat("video ", video.name, " is not in any container format FFmpeg knows (",
                     score < 0 ? ffmpeg::AvErrorText(score) : "no match",
                     "); remove it from the data list"));
  }

  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory allocating a format context for video ", video.name));
  }
  raw->pb = input->avio_.get();
  raw->flags |= AVFMT_FLAG_CUSTOM_IO;
  raw->interrupt_callback.callback = &MemoryInput::Interrupt;
  raw->interrupt_callback.opaque = input.get();
  // On failure avformat_open_input frees `raw` itself (but not our pb), so
  // the context is adopted only on success.
  int ret = avformat_open_input(&raw, "", format, nullptr);
  if (ret < 0) {
    if (ret == AVERROR_EXIT || input->deadline_passed()) {
      return BadSampleError(BadSampleKind::kTimeout,
                            absl::StrCat("time limit passed while opening video ", video.name));
    }
    // A confident probe (the mp4 'ftyp' box, a Matroska EBML header) whose
    // header then fails means the header or index is cut off; a weak guess
    // on arbitrary bytes means the bytes are simply not a video.
    BadSampleKind kind =
        score >= AVPROBE_SCORE_MAX / 2 ? BadSampleKind::kTruncated : BadSampleKind::kNotVideo;
    return BadSampleError(
        kind, absl::StrCat("cannot read the ", format->name, " header of video ", video.name, ": ",
                           ffmpeg::AvErrorText(ret),
                           kind == BadSampleKind::kTruncated
                               ? " (the file looks cut short, e.g. an mp4 without its moov box); "
                                 "re-download or re-encode it"
                               : "; remove it from the data list"));
  }
  input->format_.reset(raw);
  return input;
}

}  // namespace vmae::video
