#include "worker/tool/png_writer.h"

#include <png.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/checkpoint/atomic_file.h"

namespace vmae::tool {
namespace {

// libpng reports errors through longjmp by default; routing them to a C++
// exception would cross C frames, so errors are recorded and the write
// function simply stops copying. The encoder writes into memory and the
// file is produced atomically afterwards.
struct PngSink {
  std::string bytes;
  std::string error;
};

void AppendBytes(png_structp png, png_bytep data, png_size_t length) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  sink->bytes.append(reinterpret_cast<const char*>(data), length);
}

void Flush(png_structp) {}

// RAII for the libpng write structures.
class PngWriteHandle {
 public:
  PngWriteHandle() {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngWriteHandle() { png_destroy_write_struct(&png_, info_ != nullptr ? &info_ : nullptr); }
  PngWriteHandle(const PngWriteHandle&) = delete;
  PngWriteHandle& operator=(const PngWriteHandle&) = delete;
  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

// Encodes rows; returns false when libpng failed (it longjmps here).
bool Encode(PngWriteHandle& handle, PngSink* sink, int width, int height,
            std::vector<png_bytep>& rows) {
  if (setjmp(png_jmpbuf(handle.png()))) return false;
  png_set_write_fn(handle.png(), sink, AppendBytes, Flush);
  png_set_IHDR(handle.png(), handle.info(), width, height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(handle.png(), handle.info());
  png_write_image(handle.png(), rows.data());
  png_write_end(handle.png(), nullptr);
  return true;
}

}  // namespace

absl::Status WritePng(const std::string& path, const at::Tensor& rgb) {
  if (rgb.dim() != 3 || rgb.size(2) != 3 || rgb.scalar_type() != at::kByte) {
    return absl::InvalidArgumentError(
        absl::StrCat("PNG '", path, "': expected an [H, W, 3] uint8 image"));
  }
  const at::Tensor pixels = rgb.cpu().contiguous();
  const int height = static_cast<int>(pixels.size(0));
  const int width = static_cast<int>(pixels.size(1));
  std::vector<png_bytep> rows(height);
  for (int y = 0; y < height; ++y) {
    rows[y] = pixels.data_ptr<uint8_t>() + static_cast<int64_t>(y) * width * 3;
  }
  PngWriteHandle handle;
  if (!handle.ok()) return absl::ResourceExhaustedError("libpng: cannot allocate an encoder");
  PngSink sink;
  if (!Encode(handle, &sink, width, height, rows)) {
    return absl::InternalError(absl::StrCat("libpng failed to encode '", path, "'"));
  }
  return checkpoint::WriteFileAtomically(path, sink.bytes);
}

}  // namespace vmae::tool
