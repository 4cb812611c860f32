#include "worker/checkpoint/pth_import.h"

#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace vmae::checkpoint {
namespace {

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "torch.save storages are little-endian; this reader assumes a little-endian host"
#endif

// Bounds on the zip central directory (a checkpoint has one record per
// storage: a few thousand at most).
constexpr uint64_t kMaxCentralDirectoryBytes = uint64_t{64} << 20;
constexpr uint64_t kZipEocdSize = 22;
constexpr uint64_t kZipMaxComment = 65535;
constexpr uint64_t kZipCdEntrySize = 46;
constexpr uint64_t kZip64LocatorSize = 20;
constexpr uint64_t kZip64EocdSize = 56;
constexpr uint32_t kZipEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZipCdSig = 0x02014b50;
constexpr uint64_t kMaxSmallRecord = 64;  // "byteorder".

uint64_t LE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(p[i]);
  }
  return v;
}

// LibTorch reports errors by throwing; c10::Error's what() carries a
// backtrace, so keep just the message.
std::string ExceptionMessage(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) {
    return c10_error->what_without_backtrace();
  }
  return e.what();
}

// One record as the zip's central directory declares it.
struct ZipRecord {
  uint16_t method = 0;
  uint64_t compressed_size = 0;  // Read only to reach zip64 fields in order.
  uint64_t size = 0;             // Uncompressed.
};

// A read-only file descriptor.
class File {
 public:
  File() = default;
  ~File() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  absl::Status Open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      const std::string message = absl::StrCat(path, ": cannot open: ", std::strerror(err));
      return err == ENOENT ? absl::NotFoundError(message) : absl::FailedPreconditionError(message);
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> Size(const std::string& path) const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
    }
    return static_cast<uint64_t>(st.st_size);
  }
  // Reads exactly `n` bytes at `offset` (the caller checked they exist).
  absl::Status ReadAt(uint64_t offset, uint64_t n, std::string* out, const std::string& path) {
    out->resize(n);
    uint64_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd_, out->data() + done, n - done, offset + done);
      if (got < 0 && errno == EINTR) {
        continue;
      }
      if (got <= 0) {
        return absl::DataLossError(absl::StrCat(path, ": read failed at offset ", offset + done));
      }
      done += static_cast<uint64_t>(got);
    }
    return absl::OkStatus();
  }

 private:
  int fd_ = -1;
};

// Reads the central directory ourselves before LibTorch's reader allocates
// anything: miniz allocates a record's declared uncompressed size up front,
// so a hostile (deflated) record could claim gigabytes. The parse follows
// miniz (last end-of-central-directory signature, zip64 values where the
// 32-bit field is saturated), and the result is cross-checked against
// LibTorch's record list.
absl::StatusOr<std::unordered_map<std::string, ZipRecord>> ScanZipDirectory(
    File& file, uint64_t file_size, const std::string& path, std::string* first_name) {
  const auto corrupt = [&path](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": not a valid zip archive: ", what));
  };
  if (file_size < kZipEocdSize) {
    return corrupt("too short");
  }
  const uint64_t tail_size = std::min(file_size, kZipEocdSize + kZipMaxComment);
  const uint64_t tail_offset = file_size - tail_size;
  std::string tail;
  VMAE_RETURN_IF_ERROR(file.ReadAt(tail_offset, tail_size, &tail, path));
  // The last signature wins, as in miniz.
  std::optional<uint64_t> found;
  for (uint64_t i = tail_size - kZipEocdSize + 1; i-- > 0;) {
    if (LE(tail.data() + i, 4) == kZipEocdSig) {
      found = i;
      break;
    }
  }
  if (!found) {
    return corrupt("no end of central directory");
  }
  const uint64_t eocd = *found;
  const char* e = tail.data() + eocd;
  const uint64_t eocd_offset = tail_offset + eocd;
  uint64_t entries = LE(e + 10, 2);
  uint64_t cd_size = LE(e + 12, 4);
  uint64_t cd_offset = LE(e + 16, 4);
  if (eocd_offset >= kZip64LocatorSize) {
    std::string locator;
    VMAE_RETURN_IF_ERROR(
        file.ReadAt(eocd_offset - kZip64LocatorSize, kZip64LocatorSize, &locator, path));
    if (LE(locator.data(), 4) == kZip64LocatorSig) {
      const uint64_t z64_offset = LE(locator.data() + 8, 8);
      if (z64_offset > file_size || file_size - z64_offset < kZip64EocdSize) {
        return corrupt("zip64 end of central directory out of range");
      }
      std::string z64;
      VMAE_RETURN_IF_ERROR(file.ReadAt(z64_offset, kZip64EocdSize, &z64, path));
      if (LE(z64.data(), 4) != kZip64EocdSig) {
        return corrupt("bad zip64 end of central directory");
      }
      if (entries == 0xffff) {
        entries = LE(z64.data() + 32, 8);
      }
      if (cd_size == 0xffffffff) {
        cd_size = LE(z64.data() + 40, 8);
      }
      if (cd_offset == 0xffffffff) {
        cd_offset = LE(z64.data() + 48, 8);
      }
    }
  }
  if (cd_offset > file_size || cd_size > file_size - cd_offset) {
    return corrupt("central directory out of range (truncated?)");
  }
  if (cd_size > kMaxCentralDirectoryBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": zip central directory of ", cd_size,
                                                   " bytes exceeds the limit of ",
                                                   kMaxCentralDirectoryBytes));
  }
  if (entries == 0 || entries > cd_size / kZipCdEntrySize) {
    return corrupt(absl::StrCat(entries, " records in a central directory of ", cd_size, " bytes"));
  }
  std::string cd;
  VMAE_RETURN_IF_ERROR(file.ReadAt(cd_offset, cd_size, &cd, path));
  std::unordered_map<std::string, ZipRecord> records;
  uint64_t pos = 0;
  for (uint64_t i = 0; i < entries; ++i) {
    if (cd_size - pos < kZipCdEntrySize || LE(cd.data() + pos, 4) != kZipCdSig) {
      return corrupt(absl::StrCat("bad central directory entry ", i));
    }
    const char* h = cd.data() + pos;
    ZipRecord record;
    record.method = static_cast<uint16_t>(LE(h + 10, 2));
    record.compressed_size = LE(h + 20, 4);
    record.size = LE(h + 24, 4);
    const uint64_t name_len = LE(h + 28, 2);
    const uint64_t extra_len = LE(h + 30, 2);
    const uint64_t comment_len = LE(h + 32, 2);
    if (cd_size - pos - kZipCdEntrySize < name_len + extra_len + comment_len) {
      return corrupt(absl::StrCat("central directory entry ", i, " overruns"));
    }
    std::string name(h + kZipCdEntrySize, name_len);
    // The zip64 extra field holds the saturated 32-bit values, in order.
    const char* extra = h + kZipCdEntrySize + name_len;
    for (uint64_t x = 0; x + 4 <= extra_len;) {
      const uint64_t id = LE(extra + x, 2);
      const uint64_t len = LE(extra + x + 2, 2);
      if (len > extra_len - x - 4) {
        return corrupt(absl::StrCat("bad extra field in entry ", i));
      }
      if (id == 1) {
        uint64_t f = x + 4;
        const uint64_t end = f + len;
        for (uint64_t* field : {&record.size, &record.compressed_size}) {
          if (*field == 0xffffffff) {
            if (end - f < 8) {
              return corrupt(absl::StrCat("short zip64 field in entry ", i));
            }
            *field = LE(extra + f, 8);
            f += 8;
          }
        }
      }
      x += 4 + len;
    }
    if (i == 0) {
      *first_name = name;
    }
    if (!records.emplace(std::move(name), record).second) {
      return corrupt(absl::StrCat("duplicate record name in entry ", i));
    }
    pos += kZipCdEntrySize + name_len + extra_len + comment_len;
  }
  return records;
}

absl::Status DataLoss(const std::string& path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

// Everything LoadPth needs from the archive.
class Archive {
 public:
  Archive(std::string path, const PickleLimits& limits) : path_(std::move(path)), limits_(limits) {}

  absl::Status Open() {
    File file;
    VMAE_RETURN_IF_ERROR(file.Open(path_));
    VMAE_ASSIGN_OR_RETURN(file_size_, file.Size(path_));
    if (file_size_ > static_cast<uint64_t>(limits_.max_file_bytes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": file of ", file_size_, " bytes exceeds the limit of ", limits_.max_file_bytes));
    }
    std::string first_name;
    VMAE_ASSIGN_OR_RETURN(records_, ScanZipDirectory(file, file_size_, path_, &first_name));
    // PyTorchStreamReader names records relative to the folder of the first
    // record ("archive/" for `torch.save(obj, "x.pth")` in recent versions,
    // the file's stem in older ones).
    const size_t slash = first_name.find('/');
    if (slash == std::string::npos) {
      return DataLoss(path_, "first zip record is not in a folder: not a torch.save file");
    }
    folder_ = first_name.substr(0, slash + 1);

    std::vector<std::string> names;
    try {
      reader_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path_);
      names = reader_->getAllRecords();
    } catch (const std::exception& e) {
      return DataLoss(path_, absl::StrCat("not a readable torch.save zip: ", ExceptionMessage(e)));
    }
    if (names.size() != records_.size()) {
      return DataLoss(path_, "zip directory disagrees with LibTorch's reader");
    }
    std::vector<std::string> pickles;
    for (const std::string& name : names) {
      if (records_.count(folder_ + name) == 0) {
        return DataLoss(path_, "zip directory disagrees with LibTorch's reader");
      }
      if (name == "data.pkl" || absl::EndsWith(name, "/data.pkl")) {
        pickles.push_back(name);
      }
    }
    if (pickles.empty()) {
      return DataLoss(path_, "no data.pkl record: not a torch.save zip file");
    }
    if (pickles.size() > 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": ", pickles.size(), " data.pkl records"));
    }
    pickle_ = pickles[0];
    prefix_ = pickle_.substr(0, pickle_.size() - std::string("data.pkl").size());

    // Files written on a big-endian host say so (PyTorch >= 2.1).
    const std::string byteorder = prefix_ + "byteorder";
    if (records_.count(folder_ + byteorder) != 0) {
      VMAE_ASSIGN_OR_RETURN(auto record, Read(byteorder, kMaxSmallRecord));
      const std::string order(static_cast<const char*>(std::get<0>(record).get()),
                              std::get<1>(record));
      if (order != "little") {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": storages are '", order, "'-endian; only little is supported"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadPickle() {
    VMAE_ASSIGN_OR_RETURN(auto record, Read(pickle_, limits_.max_pickle_bytes));
    return std::string(static_cast<const char*>(std::get<0>(record).get()), std::get<1>(record));
  }

  absl::StatusOr<c10::Storage> ReadStorage(const std::string& key, c10::ScalarType dtype,
                                           int64_t numel) {
    const uint64_t nbytes = static_cast<uint64_t>(numel) * c10::elementSize(dtype);
    const std::string name = absl::StrCat(prefix_, "data/", key);
    auto it = records_.find(folder_ + name);
    if (it == records_.end()) {
      return DataLoss(path_, absl::StrCat("storage record '", name, "' is missing"));
    }
    if (it->second.size != nbytes) {
      return DataLoss(path_,
                      absl::StrCat("storage record '", name, "' has ", it->second.size, " bytes; ",
                                   numel, " ", c10::toString(dtype), " elements need ", nbytes));
    }
    VMAE_ASSIGN_OR_RETURN(auto record, Read(name, nbytes));
    return c10::Storage(c10::Storage::use_byte_size_t(), nbytes, std::move(std::get<0>(record)),
                        /*allocator=*/nullptr, /*resizable=*/false);
  }

 private:
  // Reads record `name` (relative to the folder) if it is at most
  // `max_bytes` and the file's total read budget allows it.
  absl::StatusOr<std::tuple<at::DataPtr, size_t>> Read(const std::string& name,
                                                       uint64_t max_bytes) {
    auto it = records_.find(folder_ + name);
    if (it == records_.end()) {
      return DataLoss(path_, absl::StrCat("record '", name, "' is missing"));
    }
    const ZipRecord& r = it->second;
    if (r.method != 0 && r.method != 8) {
      return DataLoss(path_, absl::StrCat("record '", name, "' uses zip method ", r.method));
    }
    if (r.size > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": record '", name, "' of ", r.size,
                                                     " bytes exceeds the limit of ", max_bytes));
    }
    // Every byte read comes out of the file: records never add up to more
    // than its size (stored records cannot; deflated bombs are refused).
    if (r.size > file_size_ - bytes_read_) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": records expand beyond the file's ",
                                                     file_size_, " bytes at '", name, "'"));
    }
    bytes_read_ += r.size;
    try {
      auto record = reader_->getRecord(name);
      if (std::get<1>(record) != r.size) {
        return DataLoss(path_, absl::StrCat("record '", name, "' read ", std::get<1>(record),
                                            " bytes, directory says ", r.size));
      }
      return record;
    } catch (const std::exception& e) {
      return DataLoss(path_,
                      absl::StrCat("cannot read record '", name, "': ", ExceptionMessage(e)));
    }
  }

  std::string path_;
  const PickleLimits& limits_;
  uint64_t file_size_ = 0;
  uint64_t bytes_read_ = 0;
  std::unordered_map<std::string, ZipRecord> records_;
  std::string folder_;  // Of the first record, with '/'.
  std::string pickle_;  // Relative to folder_, e.g. "data.pkl".
  std::string prefix_;  // pickle_ without "data.pkl".
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
};

bool StartsWithAny(absl::string_view s, const std::vector<std::string>& prefixes,
                   std::string* which) {
  for (const std::string& p : prefixes) {
    if (absl::StartsWith(s, p)) {
      *which = p;
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<PickleValue> LoadPth(const std::string& path, const PickleLimits& limits) {
  Archive archive(path, limits);
  VMAE_RETURN_IF_ERROR(archive.Open());
  VMAE_ASSIGN_OR_RETURN(const std::string pickle, archive.ReadPickle());
  StorageLoader loader = [&archive](const std::string& key, c10::ScalarType dtype, int64_t numel) {
    return archive.ReadStorage(key, dtype, numel);
  };
  return ParsePickle(pickle, loader, limits, path);
}

ImportOptions ImportOptions::ForFinetuning() {
  ImportOptions opt;
  opt.strip_prefixes = {"encoder.", "backbone."};
  opt.drop_prefixes = {"decoder.", "encoder_to_decoder", "mask_token", "norm."};
  return opt;
}

absl::StatusOr<ImportResult> ExtractStateDict(const PickleValue& root, const ImportOptions& opt,
                                              absl::string_view context) {
  if (!root.is_dict()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": checkpoint is a ", root.TypeName(),
                                                   ", not a dict (", root.DebugString(1), ")"));
  }
  ImportResult result;
  const PickleValue* weights = &root;
  for (const char* key : {"model", "module"}) {
    if (const PickleValue* v = root.as_dict().Find(key)) {
      weights = v;
      result.weights_key = key;
      break;
    }
  }
  if (!result.weights_key.empty()) {
    for (const auto& [k, v] : root.as_dict().items) {
      if (!(k.is_string() && k.as_string() == result.weights_key)) {
        result.other_entries.push_back(k.is_string() ? k.as_string() : k.DebugString(1));
      }
    }
  }
  const std::string where = result.weights_key.empty() ? "the top-level dict"
                                                       : absl::StrCat("'", result.weights_key, "'");
  if (!weights->is_dict()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": weights ", where, " are a ", weights->TypeName(), " (",
                     weights->DebugString(1), "), not a dict of tensors"));
  }
  std::map<std::string, std::string> origin;  // Kept name -> original key.
  for (const auto& [k, v] : weights->as_dict().items) {
    if (!k.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": weights ", where, " have a ",
                                                     k.TypeName(), " key ", k.DebugString(1)));
    }
    const std::string& key = k.as_string();
    std::string name = key;
    std::string prefix;
    if (StartsWithAny(name, opt.strip_prefixes, &prefix)) {
      name = name.substr(prefix.size());
    }
    if (StartsWithAny(name, opt.drop_prefixes, &prefix)) {
      result.dropped.push_back(key);
      continue;
    }
    if (!v.is_tensor()) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": weights entry '", absl::CHexEscape(key), "' in ", where,
                       " is a ", v.TypeName(), " (", v.DebugString(1), "), not a tensor"));
    }
    auto [it, inserted] = origin.emplace(name, key);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(context, ": weights entries '", absl::CHexEscape(it->second), "' and '",
                       absl::CHexEscape(key), "' both become '", absl::CHexEscape(name), "'"));
    }
    if (name != key) {
      result.renamed.push_back(key);
    }
    result.tensors.emplace(name, v.as_tensor());
  }
  return result;
}

absl::StatusOr<ImportResult> ImportPth(const std::string& path, const ImportOptions& opt) {
  VMAE_ASSIGN_OR_RETURN(const PickleValue root, LoadPth(path, opt.limits));
  return ExtractStateDict(root, opt, path);
}

absl::StatusOr<std::map<std::string, at::Tensor>> LoadStateDictFromPth(const std::string& path,
                                                                       const ImportOptions& opt) {
  VMAE_ASSIGN_OR_RETURN(ImportResult result, ImportPth(path, opt));
  return std::move(result.tensors);
}

}  // namespace vmae::checkpoint
