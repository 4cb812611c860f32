// BuildVideoIndex: one demux-only pass over the packets of the best video
// stream (no decoding, no avformat_find_stream_info).
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "worker/data/bad_sample.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/video/memory_input.h"
#include "worker/data/video/video_index.h"

extern "C" {
#include <libavutil/display.h>
}

namespace vmae::video {
namespace {

using data::BadSampleError;
using data::BadSampleKind;

// Clockwise degrees (0, 90, 180, 270) from the stream's display matrix.
// av_display_rotation_get gives the counter-clockwise angle of the matrix;
// the ffmpeg command line negates it the same way for autorotation.
int RotationOf(const AVStream* stream) {
  size_t size = 0;
  const uint8_t* matrix = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (matrix == nullptr || size < 9 * sizeof(int32_t)) {
    return 0;
  }
  double ccw = av_display_rotation_get(reinterpret_cast<const int32_t*>(matrix));
  if (std::isnan(ccw)) {
    return 0;
  }
  long quarter = std::lround(-ccw / 90.0);  // nearest multiple of 90 degrees
  return static_cast<int>(((quarter % 4) + 4) % 4) * 90;
}

}  // namespace

absl::StatusOr<VideoIndex> BuildVideoIndex(const EncodedVideo& video) {
  auto input_or = MemoryInput::Open(video, absl::InfiniteFuture());
  if (!input_or.ok()) {
    return input_or.status();
  }
  std::unique_ptr<MemoryInput> input = std::move(input_or).value();
  AVFormatContext* fmt = input->format();

  int stream_index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  // Attached pictures (cover art in an .m4a) are not a video.
  if (stream_index >= 0 &&
      (fmt->streams[stream_index]->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0) {
    stream_index = -1;
  }
  if (stream_index < 0 || fmt->streams[stream_index]->codecpar->codec_id == AV_CODEC_ID_ANSI) {
    bool has_audio = false;
    for (unsigned i = 0; i < fmt->nb_streams; ++i) {
      has_audio |= fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO;
    }
    // Only a container that really holds audio is "audio only"; a weak
    // demuxer match with no streams at all is just not a video.
    if (has_audio) {
      return BadSampleError(BadSampleKind::kAudioOnly,
                            absl::StrCat("video ", video.name, " (", fmt->iformat->name,
                                         ") has audio but no video stream; remove it from the "
                                         "data list"));
    }
    return BadSampleError(BadSampleKind::kNotVideo,
                          absl::StrCat("video ", video.name, " (", fmt->iformat->name,
                                       ") has no video stream; remove it from the data list"));
  }
  AVStream* stream = fmt->streams[stream_index];
  // Only this stream's packets matter; the demuxer still parses the others'
  // headers but hands us nothing to copy.
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index) {
      fmt->streams[i]->discard = AVDISCARD_ALL;
    }
  }

  std::vector<int64_t> pts_list;
  std::vector<int64_t> key_pts;
  if (stream->nb_frames > 0) {
    pts_list.reserve(static_cast<size_t>(stream->nb_frames));
  }
  ffmpeg::UniquePacket packet(av_packet_alloc());
  if (packet == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("out of memory allocating a packet to index video ", video.name));
  }
  int64_t last_pts = AV_NOPTS_VALUE;
  int64_t last_duration = 0;
  // Truncation heuristics, in order of how they show up:
  //  - av_read_frame fails with anything but EOF (the Matroska and MPEG-TS
  //    demuxers report a read error; mov reports "partial file" when a
  //    sample lies past the end);
  //  - a packet flagged CORRUPT or reaching past the end of the bytes (a
  //    sample cut in the middle, which av_get_packet returns short);
  //  - fewer packets than the header's frame count (mp4 sample tables list
  //    every sample, so a file cut in the middle ends early at EOF).
  std::string truncated;
  while (true) {
    int ret = av_read_frame(fmt, packet.get());
    if (ret == AVERROR_EOF) {
      break;
    }
    if (ret < 0) {
      truncated = absl::StrCat("reading packets failed after ", pts_list.size(),
                               " frames: ", ffmpeg::AvErrorText(ret));
      break;
    }
    if (packet->stream_index == stream_index && (packet->flags & AV_PKT_FLAG_DISCARD) == 0) {
      if ((packet->flags & AV_PKT_FLAG_CORRUPT) != 0 ||
          (packet->pos >= 0 && packet->pos + packet->size > input->size())) {
        truncated = absl::StrCat("packet ", pts_list.size(), " is cut off at the end of the data");
        av_packet_unref(packet.get());
        break;
      }
      // decord's frame i: the i-th smallest presentation timestamp. A packet
      // without a pts (raw streams, some AVI files) uses its dts, and one
      // with neither follows the previous one.
      int64_t pts = packet->pts != AV_NOPTS_VALUE ? packet->pts : packet->dts;
      if (pts == AV_NOPTS_VALUE) {
        pts = last_pts == AV_NOPTS_VALUE ? 0 : last_pts + std::max<int64_t>(last_duration, 1);
      }
      pts_list.push_back(pts);
      if ((packet->flags & AV_PKT_FLAG_KEY) != 0) {
        key_pts.push_back(pts);
      }
      last_pts = pts;
      last_duration = packet->duration;
    }
    av_packet_unref(packet.get());
  }
  if (truncated.empty() && stream->nb_frames > 0 &&
      static_cast<int64_t>(pts_list.size()) < stream->nb_frames) {
    truncated = absl::StrCat("the header lists ", stream->nb_frames, " frames but only ",
                             pts_list.size(), " are in the data");
  }
  if (!truncated.empty()) {
    return BadSampleError(BadSampleKind::kTruncated,
                          absl::StrCat("video ", video.name, " is truncated: ", truncated,
                                       "; re-download or re-encode it"));
  }
  if (pts_list.empty()) {
    return BadSampleError(BadSampleKind::kNoFrames,
                          absl::StrCat("video ", video.name,
                                       " has a video stream with no frames; remove it from the "
                                       "data list"));
  }

  VideoIndex index;
  index.stream_index = stream_index;
  index.time_base_num = stream->time_base.num;
  index.time_base_den = stream->time_base.den;
  std::sort(pts_list.begin(), pts_list.end());
  index.frame_pts = std::move(pts_list);
  for (int64_t pts : key_pts) {
    auto it = std::lower_bound(index.frame_pts.begin(), index.frame_pts.end(), pts);
    index.keyframes.push_back(it - index.frame_pts.begin());
  }
  std::sort(index.keyframes.begin(), index.keyframes.end());
  index.keyframes.erase(std::unique(index.keyframes.begin(), index.keyframes.end()),
                        index.keyframes.end());

  StreamInfo& info = index.info;
  const AVCodecParameters* par = stream->codecpar;
  info.codec = avcodec_get_name(par->codec_id);
  info.coded_width = par->width;
  info.coded_height = par->height;
  info.rotation = RotationOf(stream);
  bool swap = info.rotation == 90 || info.rotation == 270;
  info.width = swap ? par->height : par->width;
  info.height = swap ? par->width : par->height;
  double tb = av_q2d(stream->time_base);
  if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) {
    info.duration_seconds = static_cast<double>(stream->duration) * tb;
  } else {
    int64_t span =
        index.frame_pts.back() - index.frame_pts.front() + std::max<int64_t>(last_duration, 0);
    info.duration_seconds = static_cast<double>(span) * tb;
  }
  if (stream->avg_frame_rate.num > 0 && stream->avg_frame_rate.den > 0) {
    info.average_fps = av_q2d(stream->avg_frame_rate);
  } else if (info.duration_seconds > 0) {
    info.average_fps = static_cast<double>(index.frame_count()) / info.duration_seconds;
  }
  return index;
}

}  // namespace vmae::video
