// A bounded reader for the part of Python's pickle protocol that
// `torch.save` (zip format, protocol 2) writes. LibTorch 1.13's own
// `torch::pickle_load` fails on every dict a Python `torch.save` writes (see
// docs/videomae-reference.md, "Trap: LibTorch cannot read Python checkpoints
// by itself"), so the `.pth` import runs this machine instead.
//
// The input is untrusted. Nothing is ever executed: GLOBAL only names a class
// or function; a small allow-list (collections.OrderedDict, the
// torch._utils._rebuild_* functions, _codecs.encode) is interpreted, and every
// other name becomes an opaque placeholder whose REDUCE / NEWOBJ / BUILD results
// are opaque too. Every size is bounded (PickleLimits), unknown opcodes are
// rejected with the opcode byte and its offset, and all failures come back as
// absl::Status (INVALID_ARGUMENT for a malformed pickle, DATA_LOSS for a
// truncated one). A parsed value is never cyclic and nests at most
// PickleLimits::max_nesting deep, so walking it recursively is safe.
#ifndef VMAE_WORKER_CHECKPOINT_PICKLE_READER_H_
#define VMAE_WORKER_CHECKPOINT_PICKLE_READER_H_

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/core/Storage.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmae::checkpoint {

/// Bounds on what one pickle may build. The defaults are far above what any
/// real checkpoint needs (a ViT-H state dict has about 500 entries).
struct PickleLimits {
  /// Largest `.pth` file LoadPth accepts, in bytes. Default: 16 GiB.
  int64_t max_file_bytes = int64_t{16} << 30;
  /// Largest pickle (data.pkl) accepted, in bytes. Default: 256 MiB.
  int64_t max_pickle_bytes = int64_t{256} << 20;
  /// Most values on the unpickler stack at once. Default: 10M.
  int64_t max_stack = 10'000'000;
  /// Most memo entries. Default: 10M.
  int64_t max_memo = 10'000'000;
  /// Most items in all containers together (list, tuple and dict slots).
  /// Default: 10M.
  int64_t max_items = 10'000'000;
  /// Deepest container nesting. Default: 1000 (Python's own recursion limit).
  int max_nesting = 1000;
  /// Most dimensions of one tensor. Default: 64.
  int max_tensor_dims = 64;
};

class PickleValue;
struct PickleList;
struct PickleTuple;
struct PickleDict;
struct PickleOpaque;

namespace internal {
class PickleMachine;
}  // namespace internal

/// Python `bytes`.
struct PickleBytes {
  std::string data;
};

/// A typed storage (what BINPERSID names): the bytes of one
/// `archive/data/<key>` record. Tensors that name the same key are views of
/// the same storage.
struct PickleStorage {
  c10::Storage storage;
  c10::ScalarType dtype = c10::ScalarType::Float;
  /// Elements of `dtype` in the storage.
  int64_t numel = 0;
  /// The record key, e.g. "0".
  std::string key;
};

/// One unpickled value: None, bool, int, float, str, bytes, list, tuple, dict
/// (ordered), tensor, storage or an opaque placeholder for any other object.
/// Containers are shared (as in Python: the memo hands out references), and
/// immutable once the reader returns. Copying a PickleValue is cheap.
///
/// The typed accessors (`as_int()`, `as_dict()`, ...) require the matching
/// type: calling one on another type is a programming error and aborts.
/// Check `type()` or use the `is_*()` helpers first.
class PickleValue {
 public:
  /// The order matches the variant's alternatives.
  enum class Type {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kBytes,
    kList,
    kTuple,
    kDict,
    kTensor,
    kStorage,
    kOpaque,
  };

  PickleValue() = default;  // None.
  explicit PickleValue(bool v) : v_(v) {}
  explicit PickleValue(int64_t v) : v_(v) {}
  explicit PickleValue(double v) : v_(v) {}
  explicit PickleValue(std::string v) : v_(std::move(v)) {}
  // Without this, a string literal would pick the bool constructor.
  explicit PickleValue(const char* v) : v_(std::string(v)) {}
  explicit PickleValue(PickleBytes v) : v_(std::move(v)) {}
  explicit PickleValue(at::Tensor v) : v_(std::move(v)) {}
  explicit PickleValue(std::shared_ptr<const PickleStorage> v) : v_(std::move(v)) {}
  explicit PickleValue(std::shared_ptr<PickleList> v) : v_(std::move(v)) {}
  explicit PickleValue(std::shared_ptr<PickleTuple> v) : v_(std::move(v)) {}
  explicit PickleValue(std::shared_ptr<PickleDict> v) : v_(std::move(v)) {}
  explicit PickleValue(std::shared_ptr<PickleOpaque> v) : v_(std::move(v)) {}

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_string() const { return type() == Type::kString; }
  bool is_bytes() const { return type() == Type::kBytes; }
  bool is_list() const { return type() == Type::kList; }
  bool is_tuple() const { return type() == Type::kTuple; }
  bool is_dict() const { return type() == Type::kDict; }
  bool is_tensor() const { return type() == Type::kTensor; }
  bool is_storage() const { return type() == Type::kStorage; }
  bool is_opaque() const { return type() == Type::kOpaque; }

  bool as_bool() const;
  int64_t as_int() const;
  double as_float() const;
  const std::string& as_string() const;
  const std::string& as_bytes() const;
  const std::vector<PickleValue>& as_list() const;
  const std::vector<PickleValue>& as_tuple() const;
  const PickleDict& as_dict() const;
  const at::Tensor& as_tensor() const;
  const PickleStorage& as_storage() const;
  const PickleOpaque& as_opaque() const;

  /// "None", "int", "dict", "tensor", "opaque argparse.Namespace", ...
  std::string TypeName() const;
  /// A short, bounded rendering for messages and debugging: at most
  /// `max_depth` levels and a few items per container.
  std::string DebugString(int max_depth = 3) const;

 private:
  friend class internal::PickleMachine;

  std::variant<std::monostate, bool, int64_t, double, std::string, PickleBytes,
               std::shared_ptr<PickleList>, std::shared_ptr<PickleTuple>,
               std::shared_ptr<PickleDict>, at::Tensor, std::shared_ptr<const PickleStorage>,
               std::shared_ptr<PickleOpaque>>
      v_;
};

/// Bookkeeping the reader keeps on every container (not part of the value).
struct PickleNode {
  /// 1 + the deepest child container's depth.
  int depth = 1;
  /// Set once the container is an item of another container. The reader never
  /// mutates such a container again, which is what keeps values acyclic.
  bool nested = false;
};

struct PickleList : PickleNode {
  std::vector<PickleValue> items;
};

struct PickleTuple : PickleNode {
  std::vector<PickleValue> items;
};

/// A Python dict or collections.OrderedDict, in insertion order. As in
/// Python, setting an existing str or int key replaces its value in place.
/// Keys of other types (rare: tuples, floats, ...) are kept but not indexed.
struct PickleDict : PickleNode {
  std::vector<std::pair<PickleValue, PickleValue>> items;

  /// The value stored under a str key, or nullptr.
  const PickleValue* Find(absl::string_view key) const;
  /// The value stored under an int key, or nullptr.
  const PickleValue* Find(int64_t key) const;
  /// Inserts or replaces (Python semantics for str and int keys).
  void Set(PickleValue key, PickleValue value);

 private:
  std::unordered_map<std::string, size_t> str_index_;
  std::unordered_map<int64_t, size_t> int_index_;
};

/// Any class or function outside the allow-list, or an object one of them
/// would have built. Nothing is called: this only records the name and what
/// the pickle passed to it.
struct PickleOpaque : PickleNode {
  /// e.g. "argparse" (Python 2 names as protocol 2 writes them are mapped:
  /// "__builtin__" -> "builtins", "copy_reg" -> "copyreg").
  std::string module;
  /// e.g. "Namespace".
  std::string name;
  /// True for the class/function itself (GLOBAL), false for an object built
  /// by REDUCE or NEWOBJ.
  bool is_global = true;
  /// The arguments REDUCE/NEWOBJ passed (a tuple); None for a global.
  PickleValue args;
  /// What BUILD set (e.g. an argparse.Namespace's attribute dict); None if
  /// nothing. Items added by SETITEM(S)/APPEND(S) are discarded.
  PickleValue state;
};

/// Makes the storage for BINPERSID ('storage', <type>, key, location, numel):
/// `numel` elements of `dtype`, from the record `key`. Called once per key.
using StorageLoader = std::function<absl::StatusOr<c10::Storage>(
    const std::string& key, c10::ScalarType dtype, int64_t numel)>;

/// Runs the pickle in `data` to its STOP opcode and returns the value.
/// `loader` may be empty (then BINPERSID fails). `context` (usually the file
/// name) prefixes every error message. Never throws.
absl::StatusOr<PickleValue> ParsePickle(absl::string_view data, const StorageLoader& loader,
                                        const PickleLimits& limits = {},
                                        absl::string_view context = "pickle");

/// The dtype of a storage class named by `torch.<name>` ("FloatStorage",
/// "HalfStorage", ...), or false if it is not one.
bool StorageClassDtype(absl::string_view module, absl::string_view name, c10::ScalarType* dtype);

}  // namespace vmae::checkpoint

#endif  // VMAE_WORKER_CHECKPOINT_PICKLE_READER_H_
