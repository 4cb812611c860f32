#include "common/checkpoint/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/atomic_file.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace vmae::checkpoint {
namespace {

constexpr char kMetadataKey[] = "__metadata__";
// Deepest legitimate nesting: the top object (0) holds tensor objects (1)
// that hold the shape array (2). Deeper values are rejected while parsing,
// so a hostile header cannot build a deep tree.
constexpr int kMaxJsonDepth = 2;
// Generous bound on a tensor's rank; keeps a hostile shape array small.
constexpr int64_t kMaxRank = 64;

struct DtypeEntry {
  absl::string_view name;
  int64_t size;
  bool floating;
};

// The dtypes we accept (a subset of the reference's list).
constexpr DtypeEntry kDtypes[] = {
    {"F64", 8, true},  {"F32", 4, true},  {"F16", 2, true}, {"BF16", 2, true}, {"I64", 8, false},
    {"I32", 4, false}, {"I16", 2, false}, {"I8", 1, false}, {"U8", 1, false},  {"BOOL", 1, false},
};

const DtypeEntry* FindDtype(absl::string_view dtype) {
  for (const DtypeEntry& entry : kDtypes) {
    if (entry.name == dtype) {
      return &entry;
    }
  }
  return nullptr;
}

std::string KnownDtypes() {
  std::vector<absl::string_view> names;
  for (const DtypeEntry& entry : kDtypes) {
    names.push_back(entry.name);
  }
  return absl::StrJoin(names, " ");
}

// Quotes a name from an untrusted file for a message (escapes, bounded).
std::string Quote(absl::string_view s) {
  constexpr size_t kMaxShown = 200;
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxShown) {
    out += "...";
  }
  out += "'";
  return out;
}

uint64_t DecodeLittleEndian64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | p[i];
  }
  return v;
}

void EncodeLittleEndian64(uint64_t v, char* p) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

// Reads exactly `length` bytes at `offset`; false with errno kept, or with
// errno 0 at end of file.
bool PreadFully(int fd, char* buf, int64_t length, int64_t offset) {
  while (length > 0) {
    const ssize_t n = ::pread(fd, buf, static_cast<size_t>(length), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    if (n == 0) {
      errno = 0;
      return false;
    }
    buf += n;
    length -= n;
    offset += n;
  }
  return true;
}

// A non-negative JSON integer that fits int64.
bool GetNonNegativeInt(const nlohmann::json& value, int64_t* out) {
  if (!value.is_number_unsigned()) {
    return false;
  }
  const uint64_t v = value.get<uint64_t>();
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

absl::Status ParseTensorEntry(const std::string& file, const std::string& name,
                              const nlohmann::json& entry, int64_t data_size, TensorInfo* info) {
  auto invalid = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": tensor ", Quote(name), ": ", what));
  };
  if (!entry.is_object()) {
    return invalid("header entry is not an object");
  }
  const auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    return invalid("missing or non-string \"dtype\"");
  }
  info->dtype = dtype_it->get<std::string>();
  if (FindDtype(info->dtype) == nullptr) {
    return invalid(
        absl::StrCat("unknown dtype ", Quote(info->dtype), " (supported: ", KnownDtypes(), ")"));
  }
  const auto shape_it = entry.find("shape");
  if (shape_it == entry.end() || !shape_it->is_array()) {
    return invalid("missing or non-array \"shape\"");
  }
  if (static_cast<int64_t>(shape_it->size()) > kMaxRank) {
    return invalid(
        absl::StrCat("shape has ", shape_it->size(), " dimensions (at most ", kMaxRank, ")"));
  }
  info->shape.clear();
  for (const nlohmann::json& dim : *shape_it) {
    int64_t d = 0;
    if (!GetNonNegativeInt(dim, &d)) {
      return invalid(absl::StrCat("shape entry ", dim.dump(), " is not a non-negative integer"));
    }
    info->shape.push_back(d);
  }
  const auto offsets_it = entry.find("data_offsets");
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    return invalid("missing \"data_offsets\" or not a [begin, end] pair");
  }
  if (!GetNonNegativeInt((*offsets_it)[0], &info->begin) ||
      !GetNonNegativeInt((*offsets_it)[1], &info->end)) {
    return invalid(
        absl::StrCat("data_offsets ", offsets_it->dump(), " are not non-negative integers"));
  }
  if (info->begin > info->end) {
    return invalid(
        absl::StrCat("data_offsets [", info->begin, ", ", info->end, "] begin after end"));
  }
  absl::StatusOr<int64_t> expected = TensorByteSize(info->dtype, info->shape);
  if (!expected.ok()) {
    return invalid(expected.status().message());
  }
  if (info->end > data_size) {
    return absl::DataLossError(absl::StrCat(
        file, ": tensor ", Quote(name), ": data_offsets [", info->begin, ", ", info->end,
        "] run past the end of the data section (", data_size, " bytes); truncated file?"));
  }
  if (info->size() != *expected) {
    return invalid(absl::StrCat("data_offsets [", info->begin, ", ", info->end, "] hold ",
                                info->size(), " bytes but ", info->dtype, " ",
                                ShapeToString(info->shape), " needs ", *expected));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<int64_t> DtypeSize(absl::string_view dtype) {
  const DtypeEntry* entry = FindDtype(dtype);
  if (entry == nullptr) {
    return std::nullopt;
  }
  return entry->size;
}

bool IsFloatingDtype(absl::string_view dtype) {
  const DtypeEntry* entry = FindDtype(dtype);
  return entry != nullptr && entry->floating;
}

absl::StatusOr<int64_t> NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has a negative dimension"));
    }
    // Like the reference, an overflow of any partial product is an error,
    // even when a later zero dimension would make the product 0.
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " overflows int64 elements"));
    }
    n *= d;
  }
  return n;
}

absl::StatusOr<int64_t> TensorByteSize(absl::string_view dtype, const std::vector<int64_t>& shape) {
  const std::optional<int64_t> element = DtypeSize(dtype);
  if (!element.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown dtype ", Quote(dtype), " (supported: ", KnownDtypes(), ")"));
  }
  VMAE_ASSIGN_OR_RETURN(const int64_t n, NumElements(shape));
  if (n > std::numeric_limits<int64_t>::max() / *element) {
    return absl::InvalidArgumentError(
        absl::StrCat("shape ", ShapeToString(shape), " of ", dtype, " overflows int64 bytes"));
  }
  return n * *element;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status ParseSafetensorsHeader(absl::string_view header_json, int64_t data_size,
                                    const std::string& file,
                                    std::map<std::string, TensorInfo>* tensors,
                                    std::map<std::string, std::string>* metadata) {
  tensors->clear();
  metadata->clear();

  // The callback rejects duplicate keys (nlohmann would keep the last one
  // silently) and values nested deeper than a header needs.
  std::string problem;
  std::set<std::string> top_keys;
  std::set<std::string> inner_keys;
  std::vector<int64_t> array_sizes;  // element counts of the open arrays.
  auto callback = [&](int depth, nlohmann::json::parse_event_t event,
                      nlohmann::json& parsed) -> bool {
    using Event = nlohmann::json::parse_event_t;
    if (!problem.empty()) {
      return false;
    }
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (depth > kMaxJsonDepth) {
          problem = absl::StrCat("header nests deeper than ", kMaxJsonDepth + 1, " levels");
          return false;
        }
        if (depth == 1) {
          inner_keys.clear();
        }
        if (event == Event::array_start) {
          array_sizes.push_back(0);
        }
        return true;
      case Event::array_end:
        if (!array_sizes.empty()) {
          array_sizes.pop_back();
        }
        return true;
      case Event::key: {
        std::set<std::string>& keys = depth == 1 ? top_keys : inner_keys;
        if (depth <= 2 && !keys.insert(parsed.get<std::string>()).second) {
          problem =
              absl::StrCat("duplicate key ", Quote(parsed.get<std::string>()), " in the header");
          return false;
        }
        return true;
      }
      case Event::value:
        if (depth == kMaxJsonDepth + 1 && !array_sizes.empty() && ++array_sizes.back() > kMaxRank) {
          problem = absl::StrCat("an array in the header has more than ", kMaxRank, " entries");
          return false;
        }
        return true;
      default:
        return true;
    }
  };

  nlohmann::json root;
  try {
    root = nlohmann::json::parse(header_json.begin(), header_json.end(), callback);
  } catch (const nlohmann::json::exception& e) {
    if (!problem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", problem));
    }
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not valid JSON: ", e.what()));
  }
  if (!problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", problem));
  }
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": header is not a JSON object"));
  }

  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    if (name == kMetadataKey) {
      if (!it->is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(file, ": \"__metadata__\" is not an object"));
      }
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(file, ": \"__metadata__\" value for ",
                                                         Quote(m.key()), " is not a string"));
        }
        (*metadata)[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorInfo info;
    VMAE_RETURN_IF_ERROR(ParseTensorEntry(file, name, *it, data_size, &info));
    tensors->emplace(name, std::move(info));
  }

  // The byte ranges must tile the data section: sorted by offset, each
  // begins where the previous ended and the last ends at the end of file.
  std::vector<std::pair<const std::string*, const TensorInfo*>> by_offset;
  by_offset.reserve(tensors->size());
  for (const auto& [name, info] : *tensors) {
    by_offset.emplace_back(&name, &info);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->begin, a.second->end, *a.first) <
           std::tie(b.second->begin, b.second->end, *b.first);
  });
  int64_t expected = 0;
  const std::string* previous = nullptr;
  for (const auto& [name, info] : by_offset) {
    if (info->begin < expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          file, ": tensor ", Quote(*name), ": data_offsets [", info->begin, ", ", info->end,
          "] overlap tensor ", Quote(*previous), " (which ends at ", expected, ")"));
    }
    if (info->begin > expected) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": tensor ", Quote(*name), ": data_offsets [", info->begin, ", ",
                       info->end, "] leave a gap after byte ", expected, " of the data section"));
    }
    expected = info->end;
    previous = name;
  }
  if (expected != data_size) {
    return absl::DataLossError(absl::StrCat(file, ": the tensors cover ", expected,
                                            " bytes but the data section has ", data_size,
                                            " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  SafetensorsFile file;
  file.path_ = path;
  file.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (file.fd_ < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("opening safetensors file ", path));
  }
  struct stat st;
  if (::fstat(file.fd_, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const int64_t file_size = static_cast<int64_t>(st.st_size);
  if (file_size < 8) {
    return absl::DataLossError(
        absl::StrCat(path, ": ", file_size, " bytes, too short for a safetensors header"));
  }
  unsigned char prefix[8];
  if (!PreadFully(file.fd_, reinterpret_cast<char*>(prefix), 8, 0)) {
    return absl::DataLossError(absl::StrCat(path, ": cannot read the header length: ",
                                            errno != 0 ? std::strerror(errno) : "end of file"));
  }
  const uint64_t header_size = DecodeLittleEndian64(prefix);
  if (header_size > static_cast<uint64_t>(kMaxHeaderBytes)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header length ", header_size,
                                                   " exceeds the limit of ", kMaxHeaderBytes,
                                                   " bytes"));
  }
  if (static_cast<int64_t>(header_size) > file_size - 8) {
    return absl::DataLossError(absl::StrCat(path, ": header length ", header_size,
                                            " runs past the end of the file (", file_size,
                                            " bytes); truncated file?"));
  }
  std::string header(static_cast<size_t>(header_size), '\0');
  if (!PreadFully(file.fd_, header.data(), static_cast<int64_t>(header_size), 8)) {
    return absl::DataLossError(absl::StrCat(
        path, ": cannot read the header: ", errno != 0 ? std::strerror(errno) : "end of file"));
  }
  file.data_offset_ = 8 + static_cast<int64_t>(header_size);
  VMAE_RETURN_IF_ERROR(ParseSafetensorsHeader(header, file_size - file.data_offset_, path,
                                              &file.tensors_, &file.metadata_));
  return file;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      data_offset_(other.data_offset_),
      tensors_(std::move(other.tensors_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    Close();
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    data_offset_ = other.data_offset_;
    tensors_ = std::move(other.tensors_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

SafetensorsFile::~SafetensorsFile() { Close(); }

void SafetensorsFile::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

absl::StatusOr<const TensorInfo*> SafetensorsFile::Find(absl::string_view name) const {
  const auto it = tensors_.find(std::string(name));
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor ", Quote(name)));
  }
  return &it->second;
}

absl::StatusOr<std::string> SafetensorsFile::ReadBytes(absl::string_view name) const {
  VMAE_ASSIGN_OR_RETURN(const TensorInfo* info, Find(name));
  return ReadBytes(name, 0, info->size());
}

absl::StatusOr<std::string> SafetensorsFile::ReadBytes(absl::string_view name, int64_t offset,
                                                       int64_t length) const {
  VMAE_ASSIGN_OR_RETURN(const TensorInfo* info, Find(name));
  if (offset < 0 || length < 0 || offset > info->size() || length > info->size() - offset) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": tensor ", Quote(name), ": bytes [", offset,
                                              ", +", length, ") outside its ", info->size(),
                                              " bytes"));
  }
  std::string bytes(static_cast<size_t>(length), '\0');
  if (!PreadFully(fd_, bytes.data(), length, data_offset_ + info->begin + offset)) {
    return absl::DataLossError(
        absl::StrCat(path_, ": reading tensor ", Quote(name), ": ",
                     errno != 0 ? std::strerror(errno) : "unexpected end of file"));
  }
  return bytes;
}

void SafetensorsWriter::Add(std::string name, std::string dtype, std::vector<int64_t> shape,
                            std::string bytes) {
  Entry entry{std::move(dtype), std::move(shape), std::move(bytes), nullptr};
  if (!entries_.emplace(name, std::move(entry)).second) {
    duplicates_.push_back(std::move(name));
  }
}

void SafetensorsWriter::AddLazy(std::string name, std::string dtype, std::vector<int64_t> shape,
                                Producer producer) {
  Entry entry{std::move(dtype), std::move(shape), std::string(), std::move(producer)};
  if (!entries_.emplace(name, std::move(entry)).second) {
    duplicates_.push_back(std::move(name));
  }
}

void SafetensorsWriter::SetMetadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

absl::Status SafetensorsWriter::Validate() const {
  if (!duplicates_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", Quote(duplicates_.front()), " added more than once"));
  }
  for (const auto& [name, entry] : entries_) {
    if (name.empty() || name == kMetadataKey) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor name ", Quote(name), " is reserved or empty"));
    }
    absl::StatusOr<int64_t> size = TensorByteSize(entry.dtype, entry.shape);
    if (!size.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", Quote(name), ": ", size.status().message()));
    }
    if (!entry.producer && static_cast<int64_t>(entry.bytes.size()) != *size) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor ", Quote(name), ": ", entry.bytes.size(), " bytes given but ",
                       entry.dtype, " ", ShapeToString(entry.shape), " needs ", *size));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SafetensorsWriter::BuildHeader() const {
  VMAE_RETURN_IF_ERROR(Validate());
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata_) {
      meta[key] = value;
    }
    root[kMetadataKey] = std::move(meta);
  }
  int64_t offset = 0;
  for (const auto& [name, entry] : entries_) {
    const int64_t size = *TensorByteSize(entry.dtype, entry.shape);  // Validate() checked.
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = entry.dtype;
    info["shape"] = entry.shape;
    info["data_offsets"] = {offset, offset + size};
    root[name] = std::move(info);
    if (size > std::numeric_limits<int64_t>::max() - offset) {
      return absl::InvalidArgumentError("tensors total more than int64 bytes");
    }
    offset += size;
  }
  std::string header;
  try {
    header = root.dump();  // compact, like the reference's serde_json output.
  } catch (const nlohmann::json::exception& e) {
    // A name or metadata string that is not valid UTF-8.
    return absl::InvalidArgumentError(absl::StrCat("cannot encode the header: ", e.what()));
  }
  header.append((8 - header.size() % 8) % 8, ' ');
  if (static_cast<int64_t>(header.size()) > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("header of ", header.size(), " bytes exceeds the limit of ", kMaxHeaderBytes));
  }
  return header;
}

absl::Status SafetensorsWriter::WriteAtomically(const std::string& path) const {
  VMAE_ASSIGN_OR_RETURN(const std::string header, BuildHeader());
  return WriteFileAtomically(path, [&](int fd, const std::string& tmp) -> absl::Status {
    char prefix[8];
    EncodeLittleEndian64(header.size(), prefix);
    VMAE_RETURN_IF_ERROR(WriteAll(fd, prefix, sizeof(prefix), tmp));
    VMAE_RETURN_IF_ERROR(WriteAll(fd, header.data(), header.size(), tmp));
    for (const auto& [name, entry] : entries_) {
      if (!entry.producer) {
        VMAE_RETURN_IF_ERROR(WriteAll(fd, entry.bytes.data(), entry.bytes.size(), tmp));
        continue;
      }
      absl::StatusOr<std::string> bytes = entry.producer();
      if (!bytes.ok()) {
        return absl::Status(bytes.status().code(),
                            absl::StrCat("producing tensor ", Quote(name), " for ", path, ": ",
                                         bytes.status().message()));
      }
      const int64_t size = *TensorByteSize(entry.dtype, entry.shape);  // Validate() checked.
      if (static_cast<int64_t>(bytes->size()) != size) {
        return absl::InternalError(absl::StrCat("tensor ", Quote(name), ": producer returned ",
                                                bytes->size(), " bytes, expected ", size));
      }
      VMAE_RETURN_IF_ERROR(WriteAll(fd, bytes->data(), bytes->size(), tmp));
    }
    return absl::OkStatus();
  });
}

}  // namespace vmae::checkpoint
