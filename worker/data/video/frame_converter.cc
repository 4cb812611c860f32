#include "worker/data/video/frame_converter.h"

#include <cstring>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
}

namespace vmae::video {
namespace {

// Bilinear like the authors' PIL resize (FFmpeg 5.1 defaults to bicubic);
// accurate rounding and full chroma interpolation cost little at clip sizes
// and match `ffmpeg -vf scale=...:flags=bilinear+accurate_rnd+full_chroma_int`.
constexpr int kSwsFlags = SWS_BILINEAR | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT;

// swscale's chroma position (1/256 luma pixel) of chroma sample 0 relative
// to luma sample 0 after offsetting the chroma plane by offset >> shift.
// Default (centre sited) is (128 << shift) - 128; -513 means "default".
int ChromaPos(int offset, int shift) {
  if (shift == 0 || (offset & ((1 << shift) - 1)) == 0) {
    return -513;
  }
  return (((offset >> shift) << shift) - offset) * 256 + (128 << shift) - 128;
}

bool IsFullRange(const AVFrame* frame) {
  switch (frame->format) {
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P:
      return true;
    default:
      return frame->color_range == AVCOL_RANGE_JPEG;
  }
}

// Copies `src` (w x h packed RGB24) into `dst` turned `rotation` degrees
// clockwise (dst is h x w for 90/270).
void RotateRgb(const uint8_t* src, int w, int h, int rotation, uint8_t* dst, int dst_stride) {
  int dst_w = (rotation == 180) ? w : h;
  int dst_h = (rotation == 180) ? h : w;
  for (int yd = 0; yd < dst_h; ++yd) {
    uint8_t* row = dst + static_cast<ptrdiff_t>(yd) * dst_stride;
    for (int xd = 0; xd < dst_w; ++xd) {
      int xs;
      int ys;
      if (rotation == 90) {  // displayed (xd, yd) <- coded (yd, h - 1 - xd)
        xs = yd;
        ys = h - 1 - xd;
      } else if (rotation == 270) {  // <- coded (w - 1 - yd, xd)
        xs = w - 1 - yd;
        ys = xd;
      } else {  // 180
        xs = w - 1 - xd;
        ys = h - 1 - yd;
      }
      std::memcpy(row + 3 * xd, src + (static_cast<ptrdiff_t>(ys) * w + xs) * 3, 3);
    }
  }
}

}  // namespace

absl::Status FrameConverter::Scale(const AVFrame* frame, int x, int y, int w, int h, int out_w,
                                   int out_h, uint8_t* dst, int dst_stride) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame->format));
  if (desc == nullptr || (desc->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL)) != 0 ||
      (desc->flags & AV_PIX_FMT_FLAG_BITSTREAM) != 0) {
    return absl::UnimplementedError(absl::StrCat("cannot crop frames in pixel format ",
                                                 desc ? desc->name : "unknown",
                                                 "; re-encode the video to yuv420p"));
  }
  bool planar = (desc->flags & AV_PIX_FMT_FLAG_PLANAR) != 0;
  int sx = desc->log2_chroma_w;
  int sy = desc->log2_chroma_h;
  // Packed subsampled formats (yuyv422) cannot start mid-pair: round down.
  if (!planar && sx > 0) {
    x &= ~((1 << sx) - 1);
  }
  int h_pos = planar ? ChromaPos(x, sx) : -513;
  int v_pos = planar ? ChromaPos(y, sy) : -513;

  const uint8_t* src[4] = {nullptr, nullptr, nullptr, nullptr};
  int src_stride[4] = {0, 0, 0, 0};
  for (int c = 0; c < desc->nb_components; ++c) {
    int plane = desc->comp[c].plane;
    if (src[plane] != nullptr) {
      continue;
    }
    bool chroma = (c == 1 || c == 2) && (desc->flags & AV_PIX_FMT_FLAG_RGB) == 0;
    int px = chroma ? (x >> sx) : x;
    int py = chroma ? (y >> sy) : y;
    src[plane] = frame->data[plane] + static_cast<ptrdiff_t>(py) * frame->linesize[plane] +
                 static_cast<ptrdiff_t>(px) * desc->comp[c].step;
    src_stride[plane] = frame->linesize[plane];
  }

  Key key{frame->format, w, h, out_w, out_h, h_pos, v_pos, frame->colorspace, IsFullRange(frame)};
  ffmpeg::UniqueSwsContext& ctx = contexts_[key];
  if (ctx == nullptr) {
    // sws_getCachedContext cannot set the chroma positions, so contexts are
    // built with options and kept in our own map instead.
    SwsContext* raw = sws_alloc_context();
    if (raw == nullptr) {
      contexts_.erase(key);
      return absl::ResourceExhaustedError("out of memory allocating a swscale context");
    }
    ctx.reset(raw);
    av_opt_set_int(raw, "srcw", w, 0);
    av_opt_set_int(raw, "srch", h, 0);
    av_opt_set_int(raw, "src_format", frame->format, 0);
    av_opt_set_int(raw, "dstw", out_w, 0);
    av_opt_set_int(raw, "dsth", out_h, 0);
    av_opt_set_int(raw, "dst_format", AV_PIX_FMT_RGB24, 0);
    av_opt_set_int(raw, "sws_flags", kSwsFlags, 0);
    av_opt_set_int(raw, "src_h_chr_pos", h_pos, 0);
    av_opt_set_int(raw, "src_v_chr_pos", v_pos, 0);
    int ret = sws_init_context(raw, nullptr, nullptr);
    if (ret < 0) {
      contexts_.erase(key);
      return absl::InternalError(absl::StrCat("swscale cannot convert ", desc->name, " ", w, "x", h,
                                              " to rgb24 ", out_w, "x", out_h, ": ",
                                              ffmpeg::AvErrorText(ret)));
    }
    // The colour matrix and range the stream declares, as the ffmpeg scale
    // filter uses them (unspecified means BT.601, limited range).
    const int* coefficients = sws_getCoefficients(frame->colorspace);
    sws_setColorspaceDetails(raw, coefficients, IsFullRange(frame) ? 1 : 0,
                             sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
  }
  uint8_t* dst_planes[4] = {dst, nullptr, nullptr, nullptr};
  int dst_strides[4] = {dst_stride, 0, 0, 0};
  int rows = sws_scale(ctx.get(), src, src_stride, 0, h, dst_planes, dst_strides);
  if (rows != out_h) {
    return absl::InternalError(absl::StrCat("swscale wrote ", rows, " rows instead of ", out_h,
                                            " converting a ", desc->name, " frame"));
  }
  return absl::OkStatus();
}

const AVFrame* FrameConverter::Rotated(const AVFrame* frame, int rotation) {
  const AVPixFmtDescriptor* desc = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(frame->format));
  if (desc == nullptr || (desc->flags & AV_PIX_FMT_FLAG_PLANAR) == 0 ||
      (desc->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL)) != 0) {
    return nullptr;
  }
  for (int c = 0; c < desc->nb_components; ++c) {
    if (desc->comp[c].step != 1 || desc->comp[c].depth != 8 || desc->comp[c].shift != 0) {
      return nullptr;
    }
  }
  // Transposing 4:2:2 would make it 4:4:0, another pixel format.
  if (rotation != 180 && desc->log2_chroma_w != desc->log2_chroma_h) {
    return nullptr;
  }
  if (rotated_valid_) {
    return rotated_.get();
  }
  if (rotated_ == nullptr) {
    rotated_.reset(av_frame_alloc());
    if (rotated_ == nullptr) {
      return nullptr;
    }
  }
  bool swap = rotation != 180;
  AVFrame* r = rotated_.get();
  r->format = frame->format;
  r->width = swap ? frame->height : frame->width;
  r->height = swap ? frame->width : frame->height;
  r->colorspace = frame->colorspace;
  r->color_range = frame->color_range;
  int planes = av_pix_fmt_count_planes(static_cast<AVPixelFormat>(frame->format));
  for (int p = 0; p < planes; ++p) {
    bool chroma = p == 1 || p == 2;
    int w = chroma ? AV_CEIL_RSHIFT(frame->width, desc->log2_chroma_w) : frame->width;
    int h = chroma ? AV_CEIL_RSHIFT(frame->height, desc->log2_chroma_h) : frame->height;
    int dst_w = swap ? h : w;
    int dst_h = swap ? w : h;
    rotated_planes_[p].resize(static_cast<size_t>(dst_w) * dst_h);
    uint8_t* dst = rotated_planes_[p].data();
    const uint8_t* src = frame->data[p];
    ptrdiff_t ls = frame->linesize[p];
    // Same maps as RotateRgb: displayed (xd, yd) <- coded (xs, ys).
    for (int yd = 0; yd < dst_h; ++yd) {
      uint8_t* row = dst + static_cast<ptrdiff_t>(yd) * dst_w;
      if (rotation == 90) {
        for (int xd = 0; xd < dst_w; ++xd) {
          row[xd] = src[(h - 1 - xd) * ls + yd];
        }
      } else if (rotation == 270) {
        for (int xd = 0; xd < dst_w; ++xd) {
          row[xd] = src[xd * ls + (w - 1 - yd)];
        }
      } else {
        const uint8_t* src_row = src + (h - 1 - yd) * ls;
        for (int xd = 0; xd < dst_w; ++xd) {
          row[xd] = src_row[w - 1 - xd];
        }
      }
    }
    r->data[p] = dst;
    r->linesize[p] = dst_w;
  }
  rotated_valid_ = true;
  return r;
}

absl::Status FrameConverter::Convert(const AVFrame* frame, int rotation, const CropResize& crop,
                                     uint8_t* out, int out_stride) {
  if (out_stride == 0) {
    out_stride = crop.out_width * 3;
  }
  const CropResize& c = crop;
  if (rotation == 0) {
    return Scale(frame, c.x, c.y, c.width, c.height, c.out_width, c.out_height, out, out_stride);
  }
  if (rotation != 90 && rotation != 180 && rotation != 270) {
    return absl::InvalidArgumentError(
        absl::StrCat("rotation ", rotation, " is not a multiple of 90 degrees"));
  }
  if (const AVFrame* rotated = Rotated(frame, rotation)) {
    return Scale(rotated, c.x, c.y, c.width, c.height, c.out_width, c.out_height, out, out_stride);
  }
  return ConvertByRgbRotation(frame, rotation, crop, out, out_stride);
}

absl::Status FrameConverter::ConvertByRgbRotation(const AVFrame* frame, int rotation,
                                                  const CropResize& crop, uint8_t* out,
                                                  int out_stride) {
  int coded_w = frame->width;
  int coded_h = frame->height;
  const CropResize& c = crop;
  if (rotation == 180) {
    scratch_.resize(static_cast<size_t>(c.out_width) * c.out_height * 3);
    absl::Status s = Scale(frame, coded_w - c.x - c.width, coded_h - c.y - c.height, c.width,
                           c.height, c.out_width, c.out_height, scratch_.data(), c.out_width * 3);
    if (!s.ok()) {
      return s;
    }
    RotateRgb(scratch_.data(), c.out_width, c.out_height, 180, out, out_stride);
    return absl::OkStatus();
  }
  // 90 or 270: the coded rectangle of the displayed one (see RotateRgb).
  int x = rotation == 90 ? c.y : coded_w - c.y - c.height;
  int y = rotation == 90 ? coded_h - c.x - c.width : c.x;
  int sw = c.out_height;  // scratch is the output transposed
  int sh = c.out_width;
  scratch_.resize(static_cast<size_t>(sw) * sh * 3);
  absl::Status s = Scale(frame, x, y, c.height, c.width, sw, sh, scratch_.data(), sw * 3);
  if (!s.ok()) {
    return s;
  }
  RotateRgb(scratch_.data(), sw, sh, rotation, out, out_stride);
  return absl::OkStatus();
}

}  // namespace vmae::video
