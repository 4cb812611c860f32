// Reading and writing safetensors files without LibTorch.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v"},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...}
// (offsets relative to the first byte after the header), then the raw
// little-endian tensor data. The reader treats every file as untrusted: the
// header is bounded (100 MiB and the file size), every tensor's byte range
// must match its dtype and shape, and the ranges must tile the data section
// exactly (no overlap, no gap, nothing after the last tensor), as the
// reference implementation (huggingface/safetensors) requires. See
// docs/checkpoint-format.md.
#ifndef VMAE_COMMON_CHECKPOINT_SAFETENSORS_H_
#define VMAE_COMMON_CHECKPOINT_SAFETENSORS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::checkpoint {

// Largest header the reader accepts (the reference allows 100,000,000 bytes).
inline constexpr int64_t kMaxHeaderBytes = int64_t{100} << 20;

// Bytes per element of a safetensors dtype ("F64", "F32", "F16", "BF16",
// "I64", "I32", "I16", "I8", "U8", "BOOL"); nullopt for any other string.
std::optional<int64_t> DtypeSize(absl::string_view dtype);

// True for F64, F32, F16 and BF16.
bool IsFloatingDtype(absl::string_view dtype);

// Number of elements of `shape`; INVALID_ARGUMENT for a negative dimension
// or an int64 overflow.
absl::StatusOr<int64_t> NumElements(const std::vector<int64_t>& shape);

// Bytes a tensor of `dtype` and `shape` occupies; INVALID_ARGUMENT for an
// unknown dtype, a negative dimension or an overflow.
absl::StatusOr<int64_t> TensorByteSize(absl::string_view dtype, const std::vector<int64_t>& shape);

// "[2, 3]": for error messages.
std::string ShapeToString(const std::vector<int64_t>& shape);

// One tensor's header entry. begin/end are byte offsets into the data
// section (after the header); end - begin == TensorByteSize(dtype, shape).
struct TensorInfo {
  std::string dtype;
  std::vector<int64_t> shape;
  int64_t begin = 0;
  int64_t end = 0;

  int64_t size() const { return end - begin; }
};

// An open, validated safetensors file. Open() reads and checks only the
// header; tensor bytes are read on demand with pread(), so a large file is
// never held in memory at once. Movable, not copyable. The const methods
// may be called from several threads at once (pread has no shared offset).
class SafetensorsFile {
 public:
  // Opens and validates `path`. NOT_FOUND (or another errno code) when the
  // file cannot be opened; INVALID_ARGUMENT for a malformed header; DATA_LOSS
  // when the file is shorter or longer than its header says. Messages name
  // the file and, where one is at fault, the tensor.
  static absl::StatusOr<SafetensorsFile> Open(const std::string& path);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  // Every tensor, by name ("__metadata__" is not a tensor).
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // The "__metadata__" object (string values only); empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Offset of the data section from the start of the file (8 + N).
  int64_t data_offset() const { return data_offset_; }

  // The tensor's info, or NOT_FOUND naming the tensor and the file.
  absl::StatusOr<const TensorInfo*> Find(absl::string_view name) const;

  // All bytes of tensor `name`. NOT_FOUND for an unknown name; DATA_LOSS
  // when the file was shortened since Open().
  absl::StatusOr<std::string> ReadBytes(absl::string_view name) const;

  // Bytes [offset, offset + length) of tensor `name` (offsets relative to
  // the tensor's first byte). OUT_OF_RANGE when the range is not inside the
  // tensor.
  absl::StatusOr<std::string> ReadBytes(absl::string_view name, int64_t offset,
                                        int64_t length) const;

 private:
  SafetensorsFile() = default;
  void Close();

  std::string path_;
  int fd_ = -1;
  int64_t data_offset_ = 0;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Validates a header (the N bytes of JSON) against a data section of
// `data_size` bytes and returns the tensors and metadata. `file` only names
// the source in error messages. Exposed for tests and for callers that hold
// the bytes in memory.
absl::Status ParseSafetensorsHeader(absl::string_view header_json, int64_t data_size,
                                    const std::string& file,
                                    std::map<std::string, TensorInfo>* tensors,
                                    std::map<std::string, std::string>* metadata);

// Builds a safetensors file. Tensors appear in the header sorted by name,
// "__metadata__" first when set, and their data is laid out in the same
// order; the header is padded with spaces to a multiple of 8 bytes, as the
// reference implementation does. Not thread-safe.
class SafetensorsWriter {
 public:
  // Produces a lazily added tensor's bytes when the file is written.
  using Producer = std::function<absl::StatusOr<std::string>()>;

  // Adds a tensor with its bytes (little-endian, row-major). Problems (an
  // unknown dtype, a size that does not match the shape, a duplicate or
  // reserved name) are reported by WriteAtomically(), naming the tensor.
  void Add(std::string name, std::string dtype, std::vector<int64_t> shape, std::string bytes);

  // Adds a tensor whose bytes `producer` returns during WriteAtomically(),
  // so that a converter holds one tensor in memory at a time. The producer
  // must return exactly TensorByteSize(dtype, shape) bytes.
  void AddLazy(std::string name, std::string dtype, std::vector<int64_t> shape, Producer producer);

  // Sets "__metadata__"[key] = value (a later call replaces the value).
  void SetMetadata(std::string key, std::string value);

  // The header JSON (padded) that WriteAtomically() would write, or the
  // first problem with the tensors added.
  absl::StatusOr<std::string> BuildHeader() const;

  // Writes the file to `path` + ".tmp", fsyncs it, renames it over `path`
  // and fsyncs the directory. On failure the temporary file is removed and
  // `path` is left as it was.
  absl::Status WriteAtomically(const std::string& path) const;

 private:
  struct Entry {
    std::string dtype;
    std::vector<int64_t> shape;
    std::string bytes;  // when producer is empty.
    Producer producer;
  };

  absl::Status Validate() const;

  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::string> duplicates_;  // names added twice.
};

}  // namespace vmae::checkpoint

#endif  // VMAE_COMMON_CHECKPOINT_SAFETENSORS_H_
