#include "worker/data/synthetic/reencode.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/synthetic/video_writer.h"

namespace vmae::synthetic {
namespace {

// The input side: demuxer, decoder, and the reused packet and frame.
struct Decoder {
  ffmpeg::UniqueInputFormat format;
  ffmpeg::UniqueCodecContext codec;
  ffmpeg::UniquePacket packet;
  ffmpeg::UniqueFrame frame;
  int stream_index = -1;
};

absl::StatusOr<Decoder> OpenDecoder(const std::string& path) {
  Decoder d;
  // avformat_open_input frees the context itself when it fails, so it is
  // adopted only on success.
  AVFormatContext* raw = avformat_alloc_context();
  if (raw == nullptr) return absl::ResourceExhaustedError("out of memory opening " + path);
  int rc = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (rc < 0) {
    return ffmpeg::AvError(
        rc, absl::StrCat("cannot open ", path, "; check that it exists and is a video"));
  }
  d.format.reset(raw);
  rc = avformat_find_stream_info(d.format.get(), nullptr);
  if (rc < 0) {
    return absl::DataLossError(absl::StrCat(path,
                                            ": cannot read the stream information; the file "
                                            "is damaged or not a video"));
  }
  const AVCodec* codec = nullptr;
  d.stream_index = av_find_best_stream(d.format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (d.stream_index < 0 || codec == nullptr) {
    return absl::DataLossError(absl::StrCat(path, ": no decodable video stream; check the file"));
  }
  d.codec.reset(avcodec_alloc_context3(codec));
  d.packet.reset(av_packet_alloc());
  d.frame.reset(av_frame_alloc());
  if (d.codec == nullptr || d.packet == nullptr || d.frame == nullptr) {
    return absl::ResourceExhaustedError("out of memory opening " + path);
  }
  rc = avcodec_parameters_to_context(d.codec.get(), d.format->streams[d.stream_index]->codecpar);
  if (rc < 0) return ffmpeg::AvError(rc, absl::StrCat(path, ": cannot set up the decoder"));
  // One thread: PrepareDataset runs one re-encode per core already.
  d.codec->thread_count = 1;
  rc = avcodec_open2(d.codec.get(), codec, nullptr);
  if (rc < 0)
    return ffmpeg::AvError(rc, absl::StrCat(path, ": cannot open the ", codec->name, " decoder"));
  return d;
}

// The input's frame rate, or 25 when the container does not say.
double FrameRate(const Decoder& d) {
  AVStream* st = d.format->streams[d.stream_index];
  const AVRational rate = av_guess_frame_rate(d.format.get(), st, nullptr);
  if (rate.num <= 0 || rate.den <= 0) return 25.0;
  return av_q2d(rate);
}

std::vector<int32_t> DisplayMatrix(const Decoder& d) {
  size_t size = 0;
  const uint8_t* data =
      av_stream_get_side_data(d.format->streams[d.stream_index], AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (data == nullptr || size < 9 * sizeof(int32_t)) return {};
  std::vector<int32_t> matrix(9);
  std::memcpy(matrix.data(), data, 9 * sizeof(int32_t));
  return matrix;
}

}  // namespace

std::pair<int, int> ScaledSize(int width, int height, int short_side) {
  if (short_side <= 0) return {std::max(2, width & ~1), std::max(2, height & ~1)};
  // The long side, rounded to the nearest even number (as ffmpeg's scale=-2).
  auto long_side = [short_side](int long_in, int short_in) {
    const int half =
        static_cast<int>(std::lround(static_cast<double>(long_in) * short_side / short_in / 2.0));
    return std::max(2, 2 * half);
  };
  if (width <= height) return {short_side, long_side(height, width)};
  return {long_side(width, height), short_side};
}

absl::StatusOr<ReencodeResult> ReencodeVideo(const std::string& in_path,
                                             const std::string& out_path,
                                             const ReencodeOptions& options) {
  if (options.short_side < 0 || options.short_side % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "short side ", options.short_side, " is not allowed; give an even number, or 0 to keep"));
  }
  Decoder d;
  VMAE_ASSIGN_OR_RETURN(d, OpenDecoder(in_path));
  const std::filesystem::path parent = std::filesystem::path(out_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat("cannot create folder ", parent.string(),
                                                      ": ", ec.message(),
                                                      "; check that the output is writable"));
    }
  }
  EncodeOptions encode;
  encode.gop = options.gop;
  encode.crf = options.crf;
  encode.display_matrix = DisplayMatrix(d);
  const double fps = FrameRate(d);

  // Opened at the first frame, whose size is the one that counts (the
  // container's may be missing or differ).
  std::unique_ptr<VideoWriter> writer;
  ReencodeResult result;
  auto write_decoded = [&]() -> absl::Status {
    while (true) {
      const int rc = avcodec_receive_frame(d.codec.get(), d.frame.get());
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return absl::OkStatus();
      if (rc < 0) {
        return ffmpeg::AvError(rc, absl::StrCat(in_path, ": frame ", result.frames,
                                                " does not decode; the file is damaged"));
      }
      if (writer == nullptr) {
        std::tie(result.width, result.height) =
            ScaledSize(d.frame->width, d.frame->height, options.short_side);
        VMAE_ASSIGN_OR_RETURN(
            writer, VideoWriter::Open(out_path, result.width, result.height, fps, encode));
      }
      const absl::Status s = writer->WriteFrame(d.frame.get());
      av_frame_unref(d.frame.get());
      VMAE_RETURN_IF_ERROR(s);
      ++result.frames;
    }
  };

  while (true) {
    int rc = av_read_frame(d.format.get(), d.packet.get());
    if (rc == AVERROR_EOF) break;
    if (rc < 0) {
      return absl::DataLossError(absl::StrCat(in_path, ": cannot read past frame ", result.frames,
                                              "; the file is damaged or truncated"));
    }
    if (d.packet->stream_index == d.stream_index) {
      rc = avcodec_send_packet(d.codec.get(), d.packet.get());
      if (rc < 0) {
        av_packet_unref(d.packet.get());
        return absl::DataLossError(absl::StrCat(in_path, ": the packet after frame ", result.frames,
                                                " does not decode; the file is damaged"));
      }
    }
    av_packet_unref(d.packet.get());
    VMAE_RETURN_IF_ERROR(write_decoded());
  }
  // A null packet drains the frames the decoder still holds.
  int rc = avcodec_send_packet(d.codec.get(), nullptr);
  if (rc < 0 && rc != AVERROR_EOF)
    return ffmpeg::AvError(rc, in_path + ": cannot drain the decoder");
  VMAE_RETURN_IF_ERROR(write_decoded());
  if (writer == nullptr) {
    return absl::DataLossError(absl::StrCat(in_path, ": no frame decodes; check the file"));
  }
  VMAE_RETURN_IF_ERROR(writer->Finish());
  return result;
}

}  // namespace vmae::synthetic
