// VideoIndex::Serialize / Parse: the on-disk cache format.
//
// Layout (little endian): "VMIX" magic, u32 version, the stream info and
// time base, then frame_pts and keyframes as counts followed by zigzag
// varint deltas (timestamps are nearly evenly spaced, so most take 1-2
// bytes), then a 64-bit FNV-1a checksum of everything before it.
#include "worker/data/video/video_index.h"

#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/data/video/fnv1a.h"

namespace vmae::video {
namespace {

constexpr char kMagic[4] = {'V', 'M', 'I', 'X'};
constexpr uint32_t kVersion = 1;
// Bounds that no real file reaches; they stop a corrupt count from
// allocating gigabytes before the checksum is even looked at.
constexpr uint64_t kMaxFrames = uint64_t{1} << 28;
constexpr uint64_t kMaxCodecName = 64;

class Writer {
 public:
  void Fixed(uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) {
      out_.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    }
  }
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  void Signed(int64_t value) {
    Varint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
  }
  void Double(double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    Fixed(bits, 8);
  }
  void Bytes(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Fixed(int bytes, uint64_t* value) {
    if (in_.size() < static_cast<size_t>(bytes)) {
      return false;
    }
    *value = 0;
    for (int i = 0; i < bytes; ++i) {
      *value |= static_cast<uint64_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    }
    in_.remove_prefix(bytes);
    return true;
  }
  bool Varint(uint64_t* value) {
    *value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) {
        return false;
      }
      auto byte = static_cast<unsigned char>(in_[0]);
      in_.remove_prefix(1);
      *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return true;
      }
    }
    return false;
  }
  bool Signed(int64_t* value) {
    uint64_t raw;
    if (!Varint(&raw)) {
      return false;
    }
    *value = static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
    return true;
  }
  bool Int(int* value) {
    int64_t v;
    if (!Signed(&v) || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
      return false;
    }
    *value = static_cast<int>(v);
    return true;
  }
  bool Double(double* value) {
    uint64_t bits;
    if (!Fixed(8, &bits)) {
      return false;
    }
    std::memcpy(value, &bits, sizeof(bits));
    return true;
  }
  bool Bytes(uint64_t max, std::string* s) {
    uint64_t n;
    if (!Varint(&n) || n > max || n > in_.size()) {
      return false;
    }
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

absl::Status Corrupt(const std::string& what) {
  return absl::DataLossError(absl::StrCat("video index cache entry is corrupt (", what,
                                          "); delete it and the index will be rebuilt"));
}

}  // namespace

std::string VideoIndex::Serialize() const {
  Writer w;
  w.out().append(kMagic, sizeof(kMagic));
  w.Fixed(kVersion, 4);
  w.Bytes(info.codec);
  w.Signed(info.coded_width);
  w.Signed(info.coded_height);
  w.Signed(info.rotation);
  w.Signed(info.width);
  w.Signed(info.height);
  w.Double(info.average_fps);
  w.Double(info.duration_seconds);
  w.Signed(stream_index);
  w.Signed(time_base_num);
  w.Signed(time_base_den);
  w.Varint(frame_pts.size());
  int64_t prev = 0;
  for (int64_t pts : frame_pts) {
    w.Signed(pts - prev);
    prev = pts;
  }
  w.Varint(keyframes.size());
  prev = 0;
  for (int64_t k : keyframes) {
    w.Signed(k - prev);
    prev = k;
  }
  w.Fixed(Fnv1a(w.out()), 8);
  return std::move(w.out());
}

absl::StatusOr<VideoIndex> VideoIndex::Parse(std::string_view bytes) {
  if (bytes.size() < sizeof(kMagic) + 4 + 8 || std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return Corrupt("no VMIX magic");
  }
  std::string_view body = bytes.substr(0, bytes.size() - 8);
  Reader tail(bytes.substr(bytes.size() - 8));
  uint64_t checksum = 0;
  tail.Fixed(8, &checksum);
  if (checksum != Fnv1a(body)) {
    return Corrupt("checksum mismatch");
  }
  Reader r(body.substr(sizeof(kMagic)));
  uint64_t version = 0;
  if (!r.Fixed(4, &version) || version != kVersion) {
    return Corrupt(absl::StrCat("version ", version, ", expected ", kVersion));
  }
  VideoIndex index;
  StreamInfo& info = index.info;
  if (!r.Bytes(kMaxCodecName, &info.codec) || !r.Int(&info.coded_width) ||
      !r.Int(&info.coded_height) || !r.Int(&info.rotation) || !r.Int(&info.width) ||
      !r.Int(&info.height) || !r.Double(&info.average_fps) || !r.Double(&info.duration_seconds) ||
      !r.Int(&index.stream_index) || !r.Int(&index.time_base_num) || !r.Int(&index.time_base_den)) {
    return Corrupt("stream info cut short");
  }
  if (info.rotation % 90 != 0 || info.rotation < 0 || info.rotation >= 360 ||
      index.time_base_den <= 0 || index.stream_index < 0) {
    return Corrupt("stream info out of range");
  }
  uint64_t count = 0;
  if (!r.Varint(&count) || count > kMaxFrames) {
    return Corrupt("frame count");
  }
  index.frame_pts.resize(count);
  int64_t prev = 0;
  for (uint64_t i = 0; i < count; ++i) {
    int64_t delta;
    if (!r.Signed(&delta) || (i > 0 && delta < 0)) {
      return Corrupt("frame timestamps cut short or not sorted");
    }
    prev += delta;
    index.frame_pts[i] = prev;
  }
  uint64_t keys = 0;
  if (!r.Varint(&keys) || keys > count) {
    return Corrupt("keyframe count");
  }
  index.keyframes.resize(keys);
  prev = 0;
  for (uint64_t i = 0; i < keys; ++i) {
    int64_t delta;
    if (!r.Signed(&delta) || (i > 0 && delta <= 0)) {
      return Corrupt("keyframes cut short or not ascending");
    }
    prev += delta;
    if (prev < 0 || prev >= static_cast<int64_t>(count)) {
      return Corrupt("keyframe out of range");
    }
    index.keyframes[i] = prev;
  }
  if (!r.done()) {
    return Corrupt("trailing bytes");
  }
  return index;
}

}  // namespace vmae::video
