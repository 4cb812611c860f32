// Demuxes an EncodedVideo straight from memory: a custom AVIOContext (read
// and seek, including AVSEEK_SIZE) over the shared bytes, plus an interrupt
// callback that stops blocking FFmpeg calls once a deadline has passed.
// Private to worker/data/video/. Not thread-safe: one per decoder/indexer.
#ifndef VMAE_WORKER_DATA_VIDEO_MEMORY_INPUT_H_
#define VMAE_WORKER_DATA_VIDEO_MEMORY_INPUT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/data/ffmpeg/ffmpeg_handles.h"
#include "worker/data/video/encoded_video.h"

namespace vmae::video {

class MemoryInput {
 public:
  // Probes the container and reads its header (no stream-info decoding).
  // Errors: kNotVideo when no demuxer recognises the bytes (or only a weak
  // guess does and its header fails); kTruncated when a demuxer recognises
  // the bytes confidently but cannot read the header, which for the files we
  // see means the index was cut off (an mp4 whose moov never arrived);
  // kTimeout when the deadline passes.
  static absl::StatusOr<std::unique_ptr<MemoryInput>> Open(const EncodedVideo& video,
                                                           absl::Time deadline);
  ~MemoryInput() = default;
  MemoryInput(const MemoryInput&) = delete;
  MemoryInput& operator=(const MemoryInput&) = delete;

  AVFormatContext* format() const { return format_.get(); }
  int64_t size() const { return static_cast<int64_t>(bytes_->size()); }
  void set_deadline(absl::Time deadline) { deadline_ = deadline; }
  bool deadline_passed() const { return absl::Now() > deadline_; }

 private:
  explicit MemoryInput(std::shared_ptr<const std::string> bytes) : bytes_(std::move(bytes)) {}
  static int Read(void* opaque, uint8_t* buf, int size);
  static int64_t Seek(void* opaque, int64_t offset, int whence);
  static int Interrupt(void* opaque);

  std::shared_ptr<const std::string> bytes_;
  int64_t pos_ = 0;
  absl::Time deadline_ = absl::InfiniteFuture();
  // Declared before format_ so that the format context, which reads through
  // it, is closed first.
  ffmpeg::UniqueAvioContext avio_;
  ffmpeg::UniqueInputFormat format_;
};

}  // namespace vmae::video

#endif  // VMAE_WORKER_DATA_VIDEO_MEMORY_INPUT_H_
