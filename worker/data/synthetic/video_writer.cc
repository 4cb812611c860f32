#include "worker/data/synthetic/video_writer.h"

#include <dlfcn.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

extern "C" {
#include <libavutil/pixdesc.h>
}

namespace vmae::synthetic {
namespace {

// Owns an AVDictionary of options for one avcodec_open2/avformat_write_header.
struct DictionaryOwner {
  AVDictionary* dict = nullptr;
  ~DictionaryOwner() { av_dict_free(&dict); }
};

// BT.601 limited-range RGB -> YUV in 8-bit integer arithmetic (the usual
// "(66R + 129G + 25B + 128) >> 8" formulas). The offsets keep every
// intermediate positive, so the shifts never see a negative number.
inline uint8_t LumaOf(int r, int g, int b) {
  return static_cast<uint8_t>(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
}
// From the sums of four pixels (one 2x2 block): 10 bits of shift, not 8.
inline uint8_t CbOf(int r4, int g4, int b4) {
  return static_cast<uint8_t>((-38 * r4 - 74 * g4 + 112 * b4 + 512 + (128 << 10)) >> 10);
}
inline uint8_t CrOf(int r4, int g4, int b4) {
  return static_cast<uint8_t>((112 * r4 - 94 * g4 - 18 * b4 + 512 + (128 << 10)) >> 10);
}

// x264's CPU flags without AVX-512, as the number its "asm" option takes,
// or "" when libx264's x264_cpu_detect is not loaded (then x264 picks).
// x264 (core 164) with AVX-512 writes different bytes for the same input
// depending on what the heap held before: encoding one video after others in
// the same process changed it. Without AVX-512 (or with no asm at all) the
// bytes repeat, whatever ran before and however many writers run at once.
// libavcodec already loaded libx264, so its exported x264_cpu_detect is found
// without linking x264 ourselves; the flag value is x264.h's X264_CPU_AVX512.
std::string X264CpuFlagsWithoutAvx512() {
  static const std::string* flags = [] {
    using DetectFn = uint32_t (*)();
    auto detect = reinterpret_cast<DetectFn>(dlsym(RTLD_DEFAULT, "x264_cpu_detect"));
    if (detect == nullptr) return new std::string();
    constexpr uint32_t kX264CpuAvx512 = 1u << 16;
    return new std::string(std::to_string(detect() & ~kX264CpuAvx512));
  }();
  return *flags;
}

// Zeroes a frame's buffers, row padding included, so that no uninitialized
// byte reaches the encoder (SIMD code reads whole vectors across row ends).
void ZeroFrame(AVFrame* frame) {
  for (AVBufferRef* buf : frame->buf) {
    if (buf != nullptr) std::memset(buf->data, 0, buf->size);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<VideoWriter>> VideoWriter::Open(const std::string& path, int width,
                                                               int height, double fps,
                                                               const EncodeOptions& options) {
  if (width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": frame size ", width, "x", height,
                     " is not allowed; H.264 4:2:0 needs positive even width and height"));
  }
  if (!(fps > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": fps ", fps, " is not allowed; give a frame rate above 0"));
  }
  if (options.gop < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": gop ", options.gop, " is not allowed; give 1 or more frames"));
  }
  if (options.crf < 0 || options.crf > 51) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": crf ", options.crf, " is outside x264's range; give 0 to 51"));
  }
  if (!options.display_matrix.empty() && options.display_matrix.size() != 9) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": display matrix has ", options.display_matrix.size(), " values; give 9 or none"));
  }
  std::unique_ptr<VideoWriter> writer(new VideoWriter(path, width, height));
  absl::Status status = writer->Init(fps, options);
  if (!status.ok()) return status;  // the destructor removes any .partial file
  return writer;
}

absl::Status VideoWriter::Init(double fps, const EncodeOptions& options) {
  const AVCodec* codec = avcodec_find_encoder_by_name("libx264");
  if (codec == nullptr) {
    return absl::FailedPreconditionError(
        "this FFmpeg has no libx264 encoder; install an FFmpeg built with libx264 "
        "(Debian's libavcodec59 has it)");
  }
  AVFormatContext* raw_format = nullptr;
  int rc = avformat_alloc_output_context2(&raw_format, nullptr, "mp4", partial_path_.c_str());
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot set up the MP4 muxer"));
  format_.reset(raw_format);
  stream_ = avformat_new_stream(format_.get(), nullptr);
  codec_.reset(avcodec_alloc_context3(codec));
  frame_.reset(av_frame_alloc());
  packet_.reset(av_packet_alloc());
  if (stream_ == nullptr || codec_ == nullptr || frame_ == nullptr || packet_ == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(path_, ": out of memory opening the encoder"));
  }

  const AVRational rate = av_d2q(fps, 1 << 20);
  AVCodecContext* c = codec_.get();
  c->width = width_;
  c->height = height_;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->color_range = AVCOL_RANGE_MPEG;
  c->colorspace = AVCOL_SPC_SMPTE170M;  // BT.601, what WriteRgb produces
  c->time_base = av_inv_q(rate);
  c->framerate = rate;
  c->gop_size = options.gop;
  c->thread_count = options.threads;
  if (options.bframes >= 0) c->max_b_frames = options.bframes;
  if ((format_->oformat->flags & AVFMT_GLOBALHEADER) != 0) {
    c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  }
  DictionaryOwner codec_options;
  av_dict_set(&codec_options.dict, "preset", options.preset.c_str(), 0);
  av_dict_set_int(&codec_options.dict, "crf", options.crf, 0);
  // scenecut=0: no extra keyframes where x264 sees a cut, so they land
  // exactly every gop frames (see the class comment).
  std::string x264_params = "scenecut=0";
  const std::string cpu = X264CpuFlagsWithoutAvx512();
  if (!cpu.empty()) x264_params += ":asm=" + cpu;
  av_dict_set(&codec_options.dict, "x264-params", x264_params.c_str(), 0);
  rc = avcodec_open2(c, codec, &codec_options.dict);
  if (rc < 0) {
    return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot open libx264 (preset '",
                                            options.preset, "'; check the preset name)"));
  }
  rc = avcodec_parameters_from_context(stream_->codecpar, c);
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot set the stream parameters"));
  stream_->time_base = c->time_base;
  stream_->avg_frame_rate = rate;
  if (!options.display_matrix.empty()) {
    uint8_t* side =
        av_stream_new_side_data(stream_, AV_PKT_DATA_DISPLAYMATRIX, 9 * sizeof(int32_t));
    if (side == nullptr) return absl::ResourceExhaustedError(path_ + ": out of memory");
    std::memcpy(side, options.display_matrix.data(), 9 * sizeof(int32_t));
  }

  rc = avio_open(&format_->pb, partial_path_.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) {
    return ffmpeg::AvError(rc, absl::StrCat("cannot create ", partial_path_,
                                            "; check that its folder exists and is writable"));
  }
  DictionaryOwner mux_options;
  if (options.faststart) av_dict_set(&mux_options.dict, "movflags", "+faststart", 0);
  rc = avformat_write_header(format_.get(), &mux_options.dict);
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot write the MP4 header"));

  frame_->format = AV_PIX_FMT_YUV420P;
  frame_->width = width_;
  frame_->height = height_;
  rc = av_frame_get_buffer(frame_.get(), 0);
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot allocate a frame"));
  ZeroFrame(frame_.get());
  return absl::OkStatus();
}

VideoWriter::~VideoWriter() {
  if (finished_) return;
  sws_.reset();
  packet_.reset();
  frame_.reset();
  codec_.reset();
  format_.reset();  // closes the .partial file before it is removed
  std::error_code ignored;
  std::filesystem::remove(partial_path_, ignored);
}

absl::Status VideoWriter::WriteRgb(const uint8_t* rgb, int stride) {
  if (finished_ || failed_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": the writer is finished or failed; open a new one"));
  }
  // The encoder may still hold a reference to the previous picture.
  int rc = av_frame_make_writable(frame_.get());
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot reuse the frame buffer"));
  AVFrame* f = frame_.get();
  for (int y = 0; y < height_; ++y) {
    const uint8_t* row = rgb + static_cast<ptrdiff_t>(y) * stride;
    uint8_t* luma = f->data[0] + static_cast<ptrdiff_t>(y) * f->linesize[0];
    for (int x = 0; x < width_; ++x) luma[x] = LumaOf(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
  }
  for (int y = 0; y < height_ / 2; ++y) {
    const uint8_t* top = rgb + static_cast<ptrdiff_t>(2 * y) * stride;
    const uint8_t* bottom = top + stride;
    uint8_t* cb = f->data[1] + static_cast<ptrdiff_t>(y) * f->linesize[1];
    uint8_t* cr = f->data[2] + static_cast<ptrdiff_t>(y) * f->linesize[2];
    for (int x = 0; x < width_ / 2; ++x) {
      int sum[3];
      for (int ch = 0; ch < 3; ++ch) {
        sum[ch] =
            top[6 * x + ch] + top[6 * x + 3 + ch] + bottom[6 * x + ch] + bottom[6 * x + 3 + ch];
      }
      cb[x] = CbOf(sum[0], sum[1], sum[2]);
      cr[x] = CrOf(sum[0], sum[1], sum[2]);
    }
  }
  return Encode(frame_.get());
}

absl::Status VideoWriter::WriteFrame(const AVFrame* in) {
  if (finished_ || failed_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": the writer is finished or failed; open a new one"));
  }
  if (in == nullptr || in->width <= 0 || in->height <= 0 || in->format < 0) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": WriteFrame needs a decoded frame"));
  }
  sws_.reset(sws_getCachedContext(sws_.release(), in->width, in->height,
                                  static_cast<AVPixelFormat>(in->format), width_, height_,
                                  AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr, nullptr));
  if (sws_ == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": cannot convert pixel format ",
                     av_get_pix_fmt_name(static_cast<AVPixelFormat>(in->format)), " to yuv420p"));
  }
  int rc = av_frame_make_writable(frame_.get());
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot reuse the frame buffer"));
  rc = sws_scale(sws_.get(), in->data, in->linesize, 0, in->height, frame_->data, frame_->linesize);
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path_, ": cannot scale the frame"));
  return Encode(frame_.get());
}

absl::Status VideoWriter::Encode(const AVFrame* frame) {
  if (frame != nullptr) frame_->pts = frames_written_;
  int rc = avcodec_send_frame(codec_.get(), frame);
  if (rc < 0) {
    failed_ = true;
    return ffmpeg::AvError(rc, absl::StrCat(path_, ": encoding failed"));
  }
  if (frame != nullptr) ++frames_written_;
  while (true) {
    rc = avcodec_receive_packet(codec_.get(), packet_.get());
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return absl::OkStatus();
    if (rc < 0) {
      failed_ = true;
      return ffmpeg::AvError(rc, absl::StrCat(path_, ": encoding failed"));
    }
    av_packet_rescale_ts(packet_.get(), codec_->time_base, stream_->time_base);
    packet_->stream_index = stream_->index;
    // Takes over the packet's data and leaves packet_ blank for the next one.
    rc = av_interleaved_write_frame(format_.get(), packet_.get());
    if (rc < 0) {
      failed_ = true;
      return ffmpeg::AvError(
          rc, absl::StrCat("cannot write to ", partial_path_, "; check free space on its disk"));
    }
  }
}

absl::Status VideoWriter::Finish() {
  if (finished_ || failed_) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": the writer is finished or failed; open a new one"));
  }
  if (frames_written_ == 0) {
    failed_ = true;
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": no frames were written; an MP4 needs at least one"));
  }
  VMAE_RETURN_IF_ERROR(Encode(nullptr));  // drain
  int rc = av_write_trailer(format_.get());
  if (rc < 0) {
    failed_ = true;
    return ffmpeg::AvError(
        rc, absl::StrCat("cannot complete ", partial_path_, "; check free space on its disk"));
  }
  rc = avio_closep(&format_->pb);
  if (rc < 0) {
    failed_ = true;
    return ffmpeg::AvError(
        rc, absl::StrCat("cannot close ", partial_path_, "; check free space on its disk"));
  }
  std::error_code ec;
  std::filesystem::rename(partial_path_, path_, ec);
  if (ec) {
    failed_ = true;
    return absl::InternalError(absl::StrCat("cannot rename ", partial_path_, " to ", path_, ": ",
                                            ec.message(), "; check the folder's permissions"));
  }
  finished_ = true;
  return absl::OkStatus();
}

}  // namespace vmae::synthetic
