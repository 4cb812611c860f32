#include "worker/data/video/clip_decoder.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "worker/data/bad_sample.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/video/frame_converter.h"
#include "worker/data/video/memory_input.h"

extern "C" {
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

namespace vmae::video {
namespace {

using data::BadSampleError;
using data::BadSampleKind;

// Like the ffmpeg command line, a damaged packet does not stop decoding: the
// frames after the next keyframe are usually fine. But a run of this many
// failed packets in a row means the stream is garbage, and we stop early
// rather than burn the clip's time budget.
constexpr int kMaxConsecutiveDecodeErrors = 32;

using FrameCallback = absl::FunctionRef<absl::Status(int64_t frame, const AVFrame* decoded)>;

}  // namespace

struct ClipDecoder::State {
  EncodedVideo video;
  std::shared_ptr<const VideoIndex> index;
  std::unique_ptr<MemoryInput> input;
  AVStream* stream = nullptr;
  ffmpeg::UniqueCodecContext codec;
  ffmpeg::UniquePacket packet;
  ffmpeg::UniqueFrame frame;
  FrameConverter converter;

  // Where decoding stands: the largest frame number among packets sent since
  // the last seek/flush (-1: none), and whether the decoder is positioned at
  // the start of the file with nothing sent (a fresh open), or needs a seek
  // before anything else (after EOF or an error).
  int64_t max_sent_frame = -1;
  int64_t last_output_frame = -1;
  // The largest frame number among packets sent with AVDISCARD_NONREF since
  // the last seek: a later call cannot want it without seeking back.
  int64_t max_skipped_frame = -1;
  bool fresh = true;
  bool needs_reset = false;

  // The frame numbers [first, last) whose presentation timestamp is `pts`:
  // usually one, several when a (broken) file repeats a timestamp, none
  // when the index does not know it.
  std::pair<int64_t, int64_t> FramesAt(int64_t pts) const {
    const auto& v = index->frame_pts;
    auto range = std::equal_range(v.begin(), v.end(), pts);
    return {range.first - v.begin(), range.second - v.begin()};
  }
  // The keyframe at or before `frame` (0 when the index has none before it).
  int64_t KeyframeAtOrBefore(int64_t frame) const {
    const auto& k = index->keyframes;
    auto it = std::upper_bound(k.begin(), k.end(), frame);
    return it == k.begin() ? 0 : *(it - 1);
  }

  absl::Status Error(BadSampleKind kind, const std::string& what) const {
    return BadSampleError(kind, absl::StrCat("video ", video.name, ": ", what));
  }

  absl::Status SeekTo(int64_t keyframe, DecodeStats* stats);
  absl::Status Run(const std::vector<int64_t>& wanted, const DecodeOptions& options,
                   DecodeStats* stats, FrameCallback on_frame);
};

absl::Status ClipDecoder::State::SeekTo(int64_t keyframe, DecodeStats* stats) {
  int64_t ts = index->frame_pts[static_cast<size_t>(keyframe)];
  // BACKWARD: land on the last keyframe at or before ts, never after it.
  int ret = av_seek_frame(input->format(), index->stream_index, ts, AVSEEK_FLAG_BACKWARD);
  if (ret < 0) {
    if (ret == AVERROR_EXIT || input->deadline_passed()) {
      return Error(BadSampleKind::kTimeout, "time limit passed while seeking");
    }
    return Error(BadSampleKind::kDecodeError,
                 absl::StrCat("cannot seek to keyframe ", keyframe, " (pts ", ts,
                              "): ", ffmpeg::AvErrorText(ret), "; re-encode the video"));
  }
  avcodec_flush_buffers(codec.get());
  // The keyframe's packet is the next one read; treat it as the position so
  // that the same wanted frame never triggers a second seek.
  max_sent_frame = keyframe;
  last_output_frame = -1;
  max_skipped_frame = -1;
  fresh = false;
  needs_reset = false;
  ++stats->seeks;
  return absl::OkStatus();
}

absl::Status ClipDecoder::State::Run(const std::vector<int64_t>& wanted,
                                     const DecodeOptions& options, DecodeStats* stats,
                                     FrameCallback on_frame) {
  input->set_deadline(options.deadline);
  if (wanted.empty()) {
    return absl::OkStatus();
  }
  if (input->deadline_passed()) {
    return Error(BadSampleKind::kTimeout,
                 absl::StrCat("time limit passed before decoding frame ", wanted.front()));
  }
  // A previous call left the decoder past the first wanted frame (already
  // output, or its packet sent with skip_frame set), at EOF or after an
  // error: start over from its keyframe (the one backward seek, between
  // clips, never within one).
  {
    int64_t kf = KeyframeAtOrBefore(wanted.front());
    if (needs_reset ||
        (!fresh && (wanted.front() <= last_output_frame || wanted.front() <= max_skipped_frame))) {
      absl::Status s = SeekTo(kf, stats);
      if (!s.ok()) {
        needs_reset = true;
        return s;
      }
    }
  }

  size_t next = 0;  // wanted[next] is the next frame to produce
  size_t seek_checked = SIZE_MAX;
  int64_t last_output_pts = AV_NOPTS_VALUE;  // for repeated timestamps
  int64_t repeats = 0;
  int consecutive_errors = 0;
  int total_errors = 0;
  std::string last_error;
  bool eof = false;

  auto fail = [&](BadSampleKind kind, std::string what) {
    needs_reset = true;
    if (kind == BadSampleKind::kDecodeError && total_errors > 0) {
      absl::StrAppend(&what, " (", total_errors, " packets failed to decode, last: ", last_error,
                      ")");
    }
    return Error(kind, what);
  };

  // Receives every frame the decoder has ready and hands the wanted ones on.
  auto drain = [&]() -> absl::Status {
    while (next < wanted.size()) {
      int ret = avcodec_receive_frame(codec.get(), frame.get());
      if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) {
        return absl::OkStatus();
      }
      if (ret < 0) {
        // A frame that failed to decode; the next packet may do better.
        ++total_errors;
        last_error = ffmpeg::AvErrorText(ret);
        return absl::OkStatus();
      }
      ++stats->frames_decoded;
      // frame->pts is the pts of the packet the frame came from, which is
      // what the index holds; the index used the dts when a packet had no
      // pts. best_effort_timestamp is only a last resort: its heuristic
      // switches to dts when it judges the pts faulty, and it restarts that
      // judgement after every flush, so after a seek it can name a different
      // frame than a fresh decode would.
      int64_t pts = frame->pts != AV_NOPTS_VALUE       ? frame->pts
                    : frame->pkt_dts != AV_NOPTS_VALUE ? frame->pkt_dts
                                                       : frame->best_effort_timestamp;
      int64_t f = -1;
      if (pts != AV_NOPTS_VALUE) {
        auto [first, last] = FramesAt(pts);
        // Frames sharing a timestamp come out one after another: the n-th of
        // them is frame first + n, as in a full decode.
        int64_t nth = (pts == last_output_pts) ? ++repeats : (repeats = 0);
        last_output_pts = pts;
        if (first + nth < last) {
          f = first + nth;
        }
      }
      if (f >= 0) {
        last_output_frame = std::max(last_output_frame, f);
      }
      absl::Status status;
      if (f == wanted[next]) {
        if ((frame->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame->decode_error_flags != 0) {
          status = fail(BadSampleKind::kDecodeError,
                        absl::StrCat("frame ", f,
                                     " decoded with errors; the stream is damaged, "
                                     "re-encode the video"));
        } else {
          status = on_frame(f, frame.get());
          ++stats->frames_kept;
          ++next;
        }
      } else if (f > wanted[next]) {
        // Frames come out in presentation order, so the wanted one was
        // dropped by the decoder and will not come.
        status = fail(BadSampleKind::kDecodeError, absl::StrCat("frame ", wanted[next],
                                                                " was not produced by the decoder "
                                                                "(it went on to frame ",
                                                                f, "); the stream is damaged"));
      }
      av_frame_unref(frame.get());
      if (!status.ok()) {
        needs_reset = true;
        return status;
      }
    }
    return absl::OkStatus();
  };

  while (next < wanted.size() && !eof) {
    if (input->deadline_passed()) {
      return fail(BadSampleKind::kTimeout,
                  absl::StrCat("time limit passed before frame ", wanted[next], " was decoded"));
    }
    if (seek_checked != next) {
      seek_checked = next;
      int64_t kf = KeyframeAtOrBefore(wanted[next]);
      // Seek only when that keyframe lies ahead of everything sent so far
      // (at a fresh open: ahead of the first keyframe); otherwise decoding
      // forward reaches the wanted frame at least as cheaply.
      bool ahead = fresh ? kf > (index->keyframes.empty() ? 0 : index->keyframes.front())
                         : kf > max_sent_frame;
      if (ahead) {
        absl::Status s = SeekTo(kf, stats);
        if (!s.ok()) {
          needs_reset = true;
          return s;
        }
      }
    }
    int ret = av_read_frame(input->format(), packet.get());
    if (ret == AVERROR_EOF) {
      eof = true;
      break;
    }
    if (ret < 0) {
      if (ret == AVERROR_EXIT || input->deadline_passed()) {
        return fail(BadSampleKind::kTimeout,
                    absl::StrCat("time limit passed reading packets for frame ", wanted[next]));
      }
      // A read error is the end of the usable data (truncated file).
      last_error = ffmpeg::AvErrorText(ret);
      ++total_errors;
      eof = true;
      break;
    }
    if (packet->stream_index != index->stream_index) {
      av_packet_unref(packet.get());
      continue;
    }
    int64_t pts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
    int64_t f = -1;
    bool keep = false;
    if (pts != AV_NOPTS_VALUE) {
      auto [first, last] = FramesAt(pts);
      if (first < last) {
        f = last - 1;
        auto it =
            std::lower_bound(wanted.begin() + static_cast<ptrdiff_t>(next), wanted.end(), first);
        keep = it != wanted.end() && *it < last;
      }
    }
    // The decoders read skip_frame per packet (codec threads are off), so
    // packets of frames we throw away skip non-reference frames entirely.
    codec->skip_frame = (options.skip_nonref && !keep) ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
    if (codec->skip_frame == AVDISCARD_NONREF) {
      max_skipped_frame = std::max(max_skipped_frame, f);
    }
    fresh = false;
    max_sent_frame = std::max(max_sent_frame, f);
    ++stats->packets_sent;
    ret = avcodec_send_packet(codec.get(), packet.get());
    if (ret == AVERROR(EAGAIN)) {
      // Not expected (we drain after every packet), but the API allows it.
      absl::Status s = drain();
      if (!s.ok()) {
        av_packet_unref(packet.get());
        return s;
      }
      ret = avcodec_send_packet(codec.get(), packet.get());
    }
    av_packet_unref(packet.get());
    if (ret < 0 && ret != AVERROR(EAGAIN)) {
      ++total_errors;
      last_error = ffmpeg::AvErrorText(ret);
      if (++consecutive_errors >= kMaxConsecutiveDecodeErrors) {
        return fail(BadSampleKind::kDecodeError,
                    absl::StrCat("frame ", wanted[next], " cannot be decoded: ", consecutive_errors,
                                 " packets in a row failed; the stream is "
                                 "damaged, re-encode the video"));
      }
      continue;
    }
    consecutive_errors = 0;
    absl::Status s = drain();
    if (!s.ok()) {
      return s;
    }
  }
  if (eof && next < wanted.size()) {
    // Flush: the decoder still holds its delayed (reordered) frames.
    needs_reset = true;
    int ret = avcodec_send_packet(codec.get(), nullptr);
    if (ret < 0 && ret != AVERROR_EOF) {
      last_error = ffmpeg::AvErrorText(ret);
    }
    absl::Status s = drain();
    if (!s.ok()) {
      return s;
    }
  }
  if (next < wanted.size()) {
    return fail(BadSampleKind::kDecodeError,
                absl::StrCat("frame ", wanted[next], " (pts ",
                             index->frame_pts[static_cast<size_t>(wanted[next])],
                             ") never came out of the decoder; the stream is damaged or "
                             "truncated, re-encode the video"));
  }
  return absl::OkStatus();
}

ClipDecoder::ClipDecoder(std::unique_ptr<State> state) : state_(std::move(state)) {}
ClipDecoder::~ClipDecoder() = default;

const VideoIndex& ClipDecoder::index() const { return *state_->index; }

absl::StatusOr<std::unique_ptr<ClipDecoder>> ClipDecoder::Open(
    EncodedVideo video, std::shared_ptr<const VideoIndex> index) {
  if (index == nullptr || index->frame_pts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ClipDecoder::Open for ", video.name, " needs a non-empty index; call BuildVideoIndex"));
  }
  auto state = std::make_unique<State>();
  state->index = std::move(index);
  auto input = MemoryInput::Open(video, absl::InfiniteFuture());
  if (!input.ok()) {
    return input.status();
  }
  state->input = std::move(input).value();
  state->video = std::move(video);
  AVFormatContext* fmt = state->input->format();
  int si = state->index->stream_index;
  if (si < 0 || si >= static_cast<int>(fmt->nb_streams) ||
      fmt->streams[si]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) {
    return absl::FailedPreconditionError(
        absl::StrCat("the index of ", state->video.name, " names stream ", si,
                     ", which is not a video stream of these bytes; rebuild the index"));
  }
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    fmt->streams[i]->discard = static_cast<int>(i) == si ? AVDISCARD_DEFAULT : AVDISCARD_ALL;
  }
  state->stream = fmt->streams[si];
  const AVCodecParameters* par = state->stream->codecpar;
  const AVCodec* decoder = avcodec_find_decoder(par->codec_id);
  if (decoder == nullptr) {
    return state->Error(BadSampleKind::kDecodeError,
                        absl::StrCat("no decoder for codec ", avcodec_get_name(par->codec_id),
                                     " in this FFmpeg build; re-encode the video to H.264"));
  }
  state->codec.reset(avcodec_alloc_context3(decoder));
  state->packet.reset(av_packet_alloc());
  state->frame.reset(av_frame_alloc());
  if (state->codec == nullptr || state->packet == nullptr || state->frame == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory allocating a decoder for ", state->video.name));
  }
  int ret = avcodec_parameters_to_context(state->codec.get(), par);
  if (ret < 0) {
    return state->Error(BadSampleKind::kDecodeError,
                        absl::StrCat("bad codec parameters: ", ffmpeg::AvErrorText(ret)));
  }
  // One codec thread: clips are decoded in parallel, one per loader thread,
  // and frame threading would also defer skip_frame to other threads.
  state->codec->thread_count = 1;
  state->codec->pkt_timebase = state->stream->time_base;
  ret = avcodec_open2(state->codec.get(), decoder, nullptr);
  if (ret < 0) {
    return state->Error(BadSampleKind::kDecodeError,
                        absl::StrCat("cannot open the ", decoder->name, " decoder: ",
                                     ffmpeg::AvErrorText(ret), "; re-encode the video"));
  }
  return std::unique_ptr<ClipDecoder>(new ClipDecoder(std::move(state)));
}

absl::Status ClipDecoder::Decode(absl::Span<const FrameTarget> targets,
                                 absl::Span<const CropResize> crops, const DecodeOptions& options,
                                 DecodeStats* stats) {
  DecodeStats local;
  DecodeStats* st = stats != nullptr ? stats : &local;
  const VideoIndex& index = *state_->index;
  for (size_t i = 0; i < crops.size(); ++i) {
    const CropResize& c = crops[i];
    if (c.x < 0 || c.y < 0 || c.width <= 0 || c.height <= 0 || c.x + c.width > index.info.width ||
        c.y + c.height > index.info.height || c.out_width <= 0 || c.out_height <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "crop ", i, " (", c.width, "x", c.height, " at ", c.x, ",", c.y, " -> ", c.out_width, "x",
          c.out_height, ") does not fit the ", index.info.width, "x", index.info.height,
          " displayed frame of ", state_->video.name, "; fix the crop sampler"));
    }
  }
  std::map<int64_t, std::vector<const FrameTarget*>> by_frame;
  for (const FrameTarget& t : targets) {
    if (t.frame < 0 || t.frame >= index.frame_count() || t.crop < 0 ||
        t.crop >= static_cast<int>(crops.size()) || t.out == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "target for frame ", t.frame, " crop ", t.crop, " is invalid (", index.frame_count(),
          " frames, ", crops.size(), " crops, out ", t.out == nullptr ? "null" : "set", ") for ",
          state_->video.name, "; fix the clip sampler"));
    }
    by_frame[t.frame].push_back(&t);
  }
  std::vector<int64_t> wanted;
  wanted.reserve(by_frame.size());
  for (const auto& [frame, unused] : by_frame) {
    wanted.push_back(frame);
  }
  int rotation = index.info.rotation;
  return state_->Run(wanted, options, st, [&](int64_t frame, const AVFrame* decoded) {
    state_->converter.NewFrame();
    for (const FrameTarget* t : by_frame[frame]) {
      const CropResize& c = crops[static_cast<size_t>(t->crop)];
      absl::Status s = state_->converter.Convert(decoded, rotation, c, t->out, t->out_stride);
      if (!s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<RawFrame>> ClipDecoder::DecodeRaw(absl::Span<const int64_t> frames,
                                                             const DecodeOptions& options,
                                                             DecodeStats* stats) {
  DecodeStats local;
  DecodeStats* st = stats != nullptr ? stats : &local;
  const VideoIndex& index = *state_->index;
  std::vector<int64_t> wanted(frames.begin(), frames.end());
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  if (!wanted.empty() && (wanted.front() < 0 || wanted.back() >= index.frame_count())) {
    return absl::InvalidArgumentError(absl::StrCat("frame numbers must be in [0, ",
                                                   index.frame_count(), ") for ",
                                                   state_->video.name, "; fix the clip sampler"));
  }
  std::vector<RawFrame> out;
  absl::Status status =
      state_->Run(wanted, options, st, [&](int64_t frame, const AVFrame* decoded) {
        const AVPixFmtDescriptor* desc =
            av_pix_fmt_desc_get(static_cast<AVPixelFormat>(decoded->format));
        if (desc == nullptr || (desc->flags & AV_PIX_FMT_FLAG_HWACCEL) != 0) {
          return absl::UnimplementedError("DecodeRaw supports software pixel formats only");
        }
        RawFrame raw;
        raw.frame = frame;
        raw.pts = index.frame_pts[static_cast<size_t>(frame)];
        raw.width = decoded->width;
        raw.height = decoded->height;
        raw.format = decoded->format;
        int linesizes[4] = {0, 0, 0, 0};
        av_image_fill_linesizes(linesizes, static_cast<AVPixelFormat>(decoded->format),
                                decoded->width);
        int planes = av_pix_fmt_count_planes(static_cast<AVPixelFormat>(decoded->format));
        for (int p = 0; p < planes; ++p) {
          int rows = (p == 1 || p == 2) ? AV_CEIL_RSHIFT(decoded->height, desc->log2_chroma_h)
                                        : decoded->height;
          std::vector<uint8_t> plane(static_cast<size_t>(linesizes[p]) * rows);
          for (int y = 0; y < rows; ++y) {
            std::memcpy(plane.data() + static_cast<size_t>(y) * linesizes[p],
                        decoded->data[p] + static_cast<ptrdiff_t>(y) * decoded->linesize[p],
                        static_cast<size_t>(linesizes[p]));
          }
          raw.planes.push_back(std::move(plane));
        }
        out.push_back(std::move(raw));
        return absl::OkStatus();
      });
  if (!status.ok()) {
    return status;
  }
  return out;
}

}  // namespace vmae::video
