#include "worker/checkpoint/pickle_reader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace vmae::checkpoint {
namespace {

// A wrong-type accessor call is a bug in the caller, not a property of the
// file: abort with the types involved.
[[noreturn]] void DieWrongType(const char* wanted, const PickleValue& value) {
  std::fprintf(stderr, "vmae::checkpoint::PickleValue: as_%s() called on a %s\n", wanted,
               value.TypeName().c_str());
  std::abort();
}

// Pickle opcodes (Lib/pickle.py). Only these are accepted.
enum Opcode : uint8_t {
  kMark = '(',
  kStop = '.',
  kPop = '0',
  kPopMark = '1',
  kDup = '2',
  kBinInt = 'J',
  kBinInt1 = 'K',
  kBinInt2 = 'M',
  kNone = 'N',
  kBinPersId = 'Q',
  kReduce = 'R',
  kBinUnicode = 'X',
  kAppend = 'a',
  kBuild = 'b',
  kGlobal = 'c',
  kAppends = 'e',
  kBinGet = 'h',
  kLongBinGet = 'j',
  kEmptyList = ']',
  kBinPut = 'q',
  kLongBinPut = 'r',
  kSetItem = 's',
  kTuple = 't',
  kEmptyTuple = ')',
  kSetItems = 'u',
  kBinFloat = 'G',
  kEmptyDict = '}',
  // Protocol 2.
  kProto = 0x80,
  kNewObj = 0x81,
  kTuple1 = 0x85,
  kTuple2 = 0x86,
  kTuple3 = 0x87,
  kNewTrue = 0x88,
  kNewFalse = 0x89,
  kLong1 = 0x8a,
  kLong4 = 0x8b,
  // Protocol 3.
  kBinBytes = 'B',
  kShortBinBytes = 'C',
  // Protocol 4.
  kShortBinUnicode = 0x8c,
  kBinUnicode8 = 0x8d,
  kBinBytes8 = 0x8e,
  kEmptySet = 0x8f,
  kAddItems = 0x90,
  kFrozenSet = 0x91,
  kNewObjEx = 0x92,
  kStackGlobal = 0x93,
  kMemoize = 0x94,
  kFrame = 0x95,
};

constexpr size_t kMaxGlobalLine = 1024;
constexpr size_t kMaxStorageKey = 256;
constexpr size_t kDebugItems = 4;
constexpr size_t kDebugStringChars = 64;

// Protocol 2 writes Python 2 module names; report the Python 3 ones.
std::string Python3Module(std::string module) {
  if (module == "__builtin__") {
    return "builtins";
  }
  if (module == "copy_reg") {
    return "copyreg";
  }
  return module;
}

std::string Shorten(const std::string& s) {
  if (s.size() <= kDebugStringChars) {
    return absl::CHexEscape(s);
  }
  return absl::StrCat(absl::CHexEscape(s.substr(0, kDebugStringChars)), "...(", s.size(),
                      " bytes)");
}

template <typename Items, typename Fn>
std::string DebugItems(const Items& items, Fn&& render) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < items.size() && i < kDebugItems; ++i) {
    parts.push_back(render(items[i]));
  }
  if (items.size() > kDebugItems) {
    parts.push_back(absl::StrCat("... (", items.size(), " items)"));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

// ---------------------------------------------------------------------------
// PickleValue

// The limits bound counts of values; keep each value small (a std::string
// plus the variant's index) so they bound memory too.
static_assert(sizeof(PickleValue) <= 48, "PickleValue grew");

bool PickleValue::as_bool() const {
  if (const auto* p = std::get_if<bool>(&v_)) {
    return *p;
  }
  DieWrongType("bool", *this);
}

int64_t PickleValue::as_int() const {
  if (const auto* p = std::get_if<int64_t>(&v_)) {
    return *p;
  }
  DieWrongType("int", *this);
}

double PickleValue::as_float() const {
  if (const auto* p = std::get_if<double>(&v_)) {
    return *p;
  }
  DieWrongType("float", *this);
}

const std::string& PickleValue::as_string() const {
  if (const auto* p = std::get_if<std::string>(&v_)) {
    return *p;
  }
  DieWrongType("string", *this);
}

const std::string& PickleValue::as_bytes() const {
  if (const auto* p = std::get_if<PickleBytes>(&v_)) {
    return p->data;
  }
  DieWrongType("bytes", *this);
}

const std::vector<PickleValue>& PickleValue::as_list() const {
  if (const auto* p = std::get_if<std::shared_ptr<PickleList>>(&v_)) {
    return (*p)->items;
  }
  DieWrongType("list", *this);
}

const std::vector<PickleValue>& PickleValue::as_tuple() const {
  if (const auto* p = std::get_if<std::shared_ptr<PickleTuple>>(&v_)) {
    return (*p)->items;
  }
  DieWrongType("tuple", *this);
}

const PickleDict& PickleValue::as_dict() const {
  if (const auto* p = std::get_if<std::shared_ptr<PickleDict>>(&v_)) {
    return **p;
  }
  DieWrongType("dict", *this);
}

const at::Tensor& PickleValue::as_tensor() const {
  if (const auto* p = std::get_if<at::Tensor>(&v_)) {
    return *p;
  }
  DieWrongType("tensor", *this);
}

const PickleStorage& PickleValue::as_storage() const {
  if (const auto* p = std::get_if<std::shared_ptr<const PickleStorage>>(&v_)) {
    return **p;
  }
  DieWrongType("storage", *this);
}

const PickleOpaque& PickleValue::as_opaque() const {
  if (const auto* p = std::get_if<std::shared_ptr<PickleOpaque>>(&v_)) {
    return **p;
  }
  DieWrongType("opaque", *this);
}

std::string PickleValue::TypeName() const {
  switch (type()) {
    case Type::kNone:
      return "None";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "str";
    case Type::kBytes:
      return "bytes";
    case Type::kList:
      return "list";
    case Type::kTuple:
      return "tuple";
    case Type::kDict:
      return "dict";
    case Type::kTensor:
      return "tensor";
    case Type::kStorage:
      return "storage";
    case Type::kOpaque: {
      const PickleOpaque& o = as_opaque();
      return absl::StrCat("opaque ", o.module, ".", o.name, o.is_global ? "" : " object");
    }
  }
  return "?";
}

std::string PickleValue::DebugString(int max_depth) const {
  auto render = [max_depth](const PickleValue& v) { return v.DebugString(max_depth - 1); };
  switch (type()) {
    case Type::kNone:
      return "None";
    case Type::kBool:
      return as_bool() ? "True" : "False";
    case Type::kInt:
      return absl::StrCat(as_int());
    case Type::kFloat:
      return absl::StrFormat("%g", as_float());
    case Type::kString:
      return absl::StrCat("'", Shorten(as_string()), "'");
    case Type::kBytes:
      return absl::StrCat("b'", Shorten(as_bytes()), "'");
    case Type::kList:
      if (max_depth <= 0) {
        return "[...]";
      }
      return absl::StrCat("[", DebugItems(as_list(), render), "]");
    case Type::kTuple:
      if (max_depth <= 0) {
        return "(...)";
      }
      return absl::StrCat("(", DebugItems(as_tuple(), render), ")");
    case Type::kDict:
      if (max_depth <= 0) {
        return "{...}";
      }
      return absl::StrCat("{",
                          DebugItems(as_dict().items,
                                     [&](const std::pair<PickleValue, PickleValue>& kv) {
                                       return absl::StrCat(render(kv.first), ": ",
                                                           render(kv.second));
                                     }),
                          "}");
    case Type::kTensor: {
      const at::Tensor& t = as_tensor();
      return absl::StrCat("tensor(", c10::toString(t.scalar_type()), ", [",
                          absl::StrJoin(t.sizes(), ", "), "])");
    }
    case Type::kStorage: {
      const PickleStorage& s = as_storage();
      return absl::StrCat("storage(", c10::toString(s.dtype), ", ", s.numel, ", key '",
                          Shorten(s.key), "')");
    }
    case Type::kOpaque: {
      const PickleOpaque& o = as_opaque();
      return absl::StrCat("<", o.module, ".", o.name, o.is_global ? "" : " object", ">");
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------
// PickleDict

const PickleValue* PickleDict::Find(absl::string_view key) const {
  auto it = str_index_.find(std::string(key));
  return it == str_index_.end() ? nullptr : &items[it->second].second;
}

const PickleValue* PickleDict::Find(int64_t key) const {
  auto it = int_index_.find(key);
  return it == int_index_.end() ? nullptr : &items[it->second].second;
}

void PickleDict::Set(PickleValue key, PickleValue value) {
  size_t* slot = nullptr;
  if (key.is_string()) {
    auto [it, inserted] = str_index_.emplace(key.as_string(), items.size());
    if (!inserted) {
      slot = &it->second;
    }
  } else if (key.is_int() || key.is_bool()) {
    // Python: True == 1, so they share a slot.
    const int64_t k = key.is_int() ? key.as_int() : static_cast<int64_t>(key.as_bool());
    auto [it, inserted] = int_index_.emplace(k, items.size());
    if (!inserted) {
      slot = &it->second;
    }
  }
  if (slot != nullptr) {
    items[*slot].second = std::move(value);  // Python keeps the first key object.
    return;
  }
  items.emplace_back(std::move(key), std::move(value));
}

// ---------------------------------------------------------------------------
// Storage classes

bool StorageClassDtype(absl::string_view module, absl::string_view name, c10::ScalarType* dtype) {
  if (module != "torch") {
    return false;
  }
  static const std::pair<absl::string_view, c10::ScalarType> kClasses[] = {
      {"FloatStorage", c10::ScalarType::Float},  {"DoubleStorage", c10::ScalarType::Double},
      {"HalfStorage", c10::ScalarType::Half},    {"BFloat16Storage", c10::ScalarType::BFloat16},
      {"LongStorage", c10::ScalarType::Long},    {"IntStorage", c10::ScalarType::Int},
      {"ShortStorage", c10::ScalarType::Short},  {"CharStorage", c10::ScalarType::Char},
      {"ByteStorage", c10::ScalarType::Byte},    {"BoolStorage", c10::ScalarType::Bool},
      {"UntypedStorage", c10::ScalarType::Byte},
  };
  for (const auto& [class_name, type] : kClasses) {
    if (class_name == name) {
      *dtype = type;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// The machine

namespace internal {

class PickleMachine {
 public:
  PickleMachine(absl::string_view data, const StorageLoader& loader, const PickleLimits& limits,
                absl::string_view context)
      : data_(data), loader_(loader), limits_(limits), context_(context) {}

  absl::StatusOr<PickleValue> Run();

 private:
  // --- Errors. Both name the context and the offset of the current opcode.
  absl::Status Invalid(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(context_, ": pickle offset ", op_offset_, ": ", message));
  }
  absl::Status Truncated(absl::string_view message) const {
    return absl::DataLossError(
        absl::StrCat(context_, ": pickle offset ", op_offset_, ": truncated: ", message));
  }

  // --- Input.
  absl::Status ReadBytes(uint64_t n, absl::string_view* out) {
    const uint64_t left = data_.size() - pos_;
    if (n > left) {
      return Truncated(absl::StrCat("needs ", n, " bytes, ", left, " left"));
    }
    *out = data_.substr(pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  // An unsigned little-endian integer of `n` (<= 8) bytes.
  absl::StatusOr<uint64_t> ReadLE(int n) {
    absl::string_view b;
    VMAE_RETURN_IF_ERROR(ReadBytes(n, &b));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) {
      v = (v << 8) | static_cast<uint8_t>(b[i]);
    }
    return v;
  }
  absl::Status ReadLine(std::string* out) {
    // Search a bounded window only, so a missing newline costs O(1).
    const absl::string_view window = data_.substr(pos_, kMaxGlobalLine + 1);
    const size_t len = window.find('\n');
    if (len == absl::string_view::npos) {
      if (window.size() <= kMaxGlobalLine) {
        return Truncated("GLOBAL without a newline");
      }
      return Invalid(absl::StrCat("GLOBAL name longer than ", kMaxGlobalLine, " bytes"));
    }
    *out = std::string(window.substr(0, len));
    pos_ += len + 1;
    return absl::OkStatus();
  }

  // --- The stack. MARK starts a new segment (Python's metastack): nothing
  // but the matching pop-to-mark may reach below it.
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  absl::Status Push(PickleValue v) {
    if (stack_.size() >= static_cast<uint64_t>(limits_.max_stack)) {
      return Invalid(absl::StrCat("stack deeper than ", limits_.max_stack));
    }
    stack_.push_back(std::move(v));
    return absl::OkStatus();
  }
  absl::Status Pop(PickleValue* out) {
    if (stack_.size() <= Floor()) {
      return Invalid("stack underflow");
    }
    *out = std::move(stack_.back());
    stack_.pop_back();
    return absl::OkStatus();
  }
  absl::Status Top(PickleValue** out) {
    if (stack_.size() <= Floor()) {
      return Invalid("stack underflow");
    }
    *out = &stack_.back();
    return absl::OkStatus();
  }
  absl::Status PopMark(std::vector<PickleValue>* items) {
    if (marks_.empty()) {
      return Invalid("no MARK to pop to");
    }
    const size_t mark = marks_.back();
    marks_.pop_back();
    items->assign(std::make_move_iterator(stack_.begin() + mark),
                  std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return absl::OkStatus();
  }

  // --- Containers.
  static PickleNode* NodeOf(const PickleValue& v) {
    switch (v.type()) {
      case PickleValue::Type::kList:
        return std::get<std::shared_ptr<PickleList>>(v.v_).get();
      case PickleValue::Type::kTuple:
        return std::get<std::shared_ptr<PickleTuple>>(v.v_).get();
      case PickleValue::Type::kDict:
        return std::get<std::shared_ptr<PickleDict>>(v.v_).get();
      case PickleValue::Type::kOpaque:
        return std::get<std::shared_ptr<PickleOpaque>>(v.v_).get();
      default:
        return nullptr;
    }
  }
  // A container that is already an item elsewhere is never changed again;
  // pickles of acyclic data never need to, and this keeps values acyclic.
  absl::Status CheckMutable(const PickleNode& node, absl::string_view op) const {
    if (node.nested) {
      return Invalid(absl::StrCat(op,
                                  " changes a container after it was nested (recursive "
                                  "structures are not supported)"));
    }
    return absl::OkStatus();
  }
  // Records that `child` becomes an item of `parent`.
  absl::Status Nest(PickleNode* parent, const PickleValue& child) {
    PickleNode* c = NodeOf(child);
    if (c == nullptr) {
      return absl::OkStatus();
    }
    if (c == parent) {
      return Invalid("a container cannot contain itself");
    }
    if (c->depth >= limits_.max_nesting) {
      return Invalid(absl::StrCat("containers nest deeper than ", limits_.max_nesting));
    }
    c->nested = true;
    parent->depth = std::max(parent->depth, c->depth + 1);
    return absl::OkStatus();
  }
  absl::Status CountItems(uint64_t n) {
    if (n > static_cast<uint64_t>(limits_.max_items) ||
        items_ > static_cast<uint64_t>(limits_.max_items) - n) {
      return Invalid(absl::StrCat("more than ", limits_.max_items, " container items"));
    }
    items_ += n;
    return absl::OkStatus();
  }
  absl::StatusOr<PickleValue> MakeTuple(std::vector<PickleValue> items) {
    VMAE_RETURN_IF_ERROR(CountItems(items.size()));
    auto tuple = std::make_shared<PickleTuple>();
    for (const PickleValue& item : items) {
      VMAE_RETURN_IF_ERROR(Nest(tuple.get(), item));
    }
    tuple->items = std::move(items);
    return PickleValue(std::move(tuple));
  }
  absl::StatusOr<PickleValue> MakeOpaqueObject(const std::string& module, const std::string& name,
                                               PickleValue args) {
    auto obj = std::make_shared<PickleOpaque>();
    obj->module = module;
    obj->name = name;
    obj->is_global = false;
    VMAE_RETURN_IF_ERROR(Nest(obj.get(), args));
    obj->args = std::move(args);
    return PickleValue(std::move(obj));
  }

  // --- Opcodes.
  absl::Status Step(uint8_t op, bool* stop, PickleValue* result);
  absl::Status PushTupleOf(size_t n);
  absl::Status SetItems(std::vector<PickleValue> items);
  absl::Status Appends(std::vector<PickleValue> items);
  absl::Status MemoPut(uint64_t index);
  absl::Status MemoGet(uint64_t index);
  absl::Status PushString(int len_bytes, bool bytes);
  absl::Status PushLong(uint64_t n);
  absl::Status Reduce(const PickleValue& callable, PickleValue args);
  absl::Status NewObj(const PickleValue& cls, PickleValue args);
  absl::Status Build(PickleValue state);
  absl::Status PersistentLoad(const PickleValue& pid);
  absl::Status RebuildTensor(const std::vector<PickleValue>& args, bool v2);
  absl::Status RebuildParameter(const std::vector<PickleValue>& args);
  absl::Status Latin1Encode(const PickleOpaque& f, PickleValue args);

  absl::string_view data_;
  const StorageLoader& loader_;
  const PickleLimits& limits_;
  std::string context_;

  size_t pos_ = 0;
  size_t op_offset_ = 0;
  std::vector<PickleValue> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, PickleValue> memo_;
  std::unordered_map<std::string, std::shared_ptr<const PickleStorage>> storages_;
  uint64_t items_ = 0;
};

absl::StatusOr<PickleValue> PickleMachine::Run() {
  if (data_.size() > static_cast<uint64_t>(limits_.max_pickle_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(context_, ": pickle of ", data_.size(),
                                                   " bytes exceeds the limit of ",
                                                   limits_.max_pickle_bytes));
  }
  bool stop = false;
  PickleValue result;
  while (!stop) {
    op_offset_ = pos_;
    if (pos_ >= data_.size()) {
      return Truncated("ends without STOP");
    }
    const uint8_t op = static_cast<uint8_t>(data_[pos_++]);
    VMAE_RETURN_IF_ERROR(Step(op, &stop, &result));
  }
  return result;
}

absl::Status PickleMachine::Step(uint8_t op, bool* stop, PickleValue* result) {
  switch (op) {
    case kProto: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t proto, ReadLE(1));
      if (proto > 5) {
        return Invalid(absl::StrCat("unsupported pickle protocol ", proto));
      }
      return absl::OkStatus();
    }
    case kFrame: {
      // Protocol 4 framing only groups opcodes; the length must fit.
      VMAE_ASSIGN_OR_RETURN(const uint64_t len, ReadLE(8));
      if (len > data_.size() - pos_) {
        return Truncated(absl::StrCat("FRAME of ", len, " bytes"));
      }
      return absl::OkStatus();
    }
    case kStop:
      VMAE_RETURN_IF_ERROR(Pop(result));
      *stop = true;
      return absl::OkStatus();
    case kMark:
      if (marks_.size() >= static_cast<uint64_t>(limits_.max_stack)) {
        return Invalid(absl::StrCat("more than ", limits_.max_stack, " open MARKs"));
      }
      marks_.push_back(stack_.size());
      return absl::OkStatus();
    case kPop: {
      if (stack_.size() > Floor()) {
        stack_.pop_back();
        return absl::OkStatus();
      }
      std::vector<PickleValue> ignored;
      return PopMark(&ignored);
    }
    case kPopMark: {
      std::vector<PickleValue> ignored;
      return PopMark(&ignored);
    }
    case kDup: {
      PickleValue* top = nullptr;
      VMAE_RETURN_IF_ERROR(Top(&top));
      PickleValue copy = *top;
      return Push(std::move(copy));
    }
    case kNone:
      return Push(PickleValue());
    case kNewTrue:
      return Push(PickleValue(true));
    case kNewFalse:
      return Push(PickleValue(false));
    case kBinInt: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t v, ReadLE(4));
      return Push(PickleValue(static_cast<int64_t>(static_cast<int32_t>(v))));
    }
    case kBinInt1: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t v, ReadLE(1));
      return Push(PickleValue(static_cast<int64_t>(v)));
    }
    case kBinInt2: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t v, ReadLE(2));
      return Push(PickleValue(static_cast<int64_t>(v)));
    }
    case kLong1: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t n, ReadLE(1));
      return PushLong(n);
    }
    case kLong4: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t n, ReadLE(4));
      if (n > std::numeric_limits<int32_t>::max()) {
        return Invalid("LONG4 with a negative length");
      }
      return PushLong(n);
    }
    case kBinFloat: {
      absl::string_view b;
      VMAE_RETURN_IF_ERROR(ReadBytes(8, &b));
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) {  // Big-endian.
        bits = (bits << 8) | static_cast<uint8_t>(b[i]);
      }
      double v = 0;
      std::memcpy(&v, &bits, sizeof(v));
      return Push(PickleValue(v));
    }
    case kShortBinUnicode:
      return PushString(1, /*bytes=*/false);
    case kBinUnicode:
      return PushString(4, /*bytes=*/false);
    case kBinUnicode8:
      return PushString(8, /*bytes=*/false);
    case kShortBinBytes:
      return PushString(1, /*bytes=*/true);
    case kBinBytes:
      return PushString(4, /*bytes=*/true);
    case kBinBytes8:
      return PushString(8, /*bytes=*/true);
    case kEmptyDict:
      return Push(PickleValue(std::make_shared<PickleDict>()));
    case kEmptyList:
      return Push(PickleValue(std::make_shared<PickleList>()));
    case kEmptyTuple:
      return Push(PickleValue(std::make_shared<PickleTuple>()));
    case kTuple: {
      std::vector<PickleValue> items;
      VMAE_RETURN_IF_ERROR(PopMark(&items));
      VMAE_ASSIGN_OR_RETURN(PickleValue tuple, MakeTuple(std::move(items)));
      return Push(std::move(tuple));
    }
    case kTuple1:
      return PushTupleOf(1);
    case kTuple2:
      return PushTupleOf(2);
    case kTuple3:
      return PushTupleOf(3);
    case kSetItem: {
      std::vector<PickleValue> items(2);
      VMAE_RETURN_IF_ERROR(Pop(&items[1]));
      VMAE_RETURN_IF_ERROR(Pop(&items[0]));
      return SetItems(std::move(items));
    }
    case kSetItems: {
      std::vector<PickleValue> items;
      VMAE_RETURN_IF_ERROR(PopMark(&items));
      return SetItems(std::move(items));
    }
    case kAppend: {
      std::vector<PickleValue> items(1);
      VMAE_RETURN_IF_ERROR(Pop(&items[0]));
      return Appends(std::move(items));
    }
    case kAppends: {
      std::vector<PickleValue> items;
      VMAE_RETURN_IF_ERROR(PopMark(&items));
      return Appends(std::move(items));
    }
    case kEmptySet: {
      VMAE_ASSIGN_OR_RETURN(PickleValue set, MakeOpaqueObject("builtins", "set", PickleValue()));
      return Push(std::move(set));
    }
    case kAddItems: {
      std::vector<PickleValue> items;
      VMAE_RETURN_IF_ERROR(PopMark(&items));
      PickleValue* target = nullptr;
      VMAE_RETURN_IF_ERROR(Top(&target));
      if (!target->is_opaque() || target->as_opaque().is_global) {
        return Invalid(absl::StrCat("ADDITEMS on a ", target->TypeName()));
      }
      return absl::OkStatus();  // Set members are not kept.
    }
    case kFrozenSet: {
      std::vector<PickleValue> items;
      VMAE_RETURN_IF_ERROR(PopMark(&items));
      VMAE_ASSIGN_OR_RETURN(PickleValue set,
                            MakeOpaqueObject("builtins", "frozenset", PickleValue()));
      return Push(std::move(set));
    }
    case kBinPut: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t index, ReadLE(1));
      return MemoPut(index);
    }
    case kLongBinPut: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t index, ReadLE(4));
      return MemoPut(index);
    }
    case kMemoize:
      return MemoPut(memo_.size());
    case kBinGet: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t index, ReadLE(1));
      return MemoGet(index);
    }
    case kLongBinGet: {
      VMAE_ASSIGN_OR_RETURN(const uint64_t index, ReadLE(4));
      return MemoGet(index);
    }
    case kGlobal: {
      auto global = std::make_shared<PickleOpaque>();
      VMAE_RETURN_IF_ERROR(ReadLine(&global->module));
      VMAE_RETURN_IF_ERROR(ReadLine(&global->name));
      global->module = Python3Module(std::move(global->module));
      return Push(PickleValue(std::move(global)));
    }
    case kStackGlobal: {
      PickleValue name;
      PickleValue module;
      VMAE_RETURN_IF_ERROR(Pop(&name));
      VMAE_RETURN_IF_ERROR(Pop(&module));
      if (!name.is_string() || !module.is_string()) {
        return Invalid(absl::StrCat("STACK_GLOBAL of a ", module.TypeName(), " and a ",
                                    name.TypeName(), ", not two str"));
      }
      auto global = std::make_shared<PickleOpaque>();
      global->module = Python3Module(module.as_string());
      global->name = name.as_string();
      return Push(PickleValue(std::move(global)));
    }
    case kReduce: {
      PickleValue args;
      PickleValue callable;
      VMAE_RETURN_IF_ERROR(Pop(&args));
      VMAE_RETURN_IF_ERROR(Pop(&callable));
      return Reduce(callable, std::move(args));
    }
    case kNewObj: {
      PickleValue args;
      PickleValue cls;
      VMAE_RETURN_IF_ERROR(Pop(&args));
      VMAE_RETURN_IF_ERROR(Pop(&cls));
      return NewObj(cls, std::move(args));
    }
    case kNewObjEx: {
      PickleValue kwargs;
      PickleValue args;
      PickleValue cls;
      VMAE_RETURN_IF_ERROR(Pop(&kwargs));
      VMAE_RETURN_IF_ERROR(Pop(&args));
      VMAE_RETURN_IF_ERROR(Pop(&cls));
      if (!kwargs.is_dict()) {
        return Invalid(absl::StrCat("NEWOBJ_EX keyword arguments are a ", kwargs.TypeName()));
      }
      return NewObj(cls, std::move(args));
    }
    case kBuild: {
      PickleValue state;
      VMAE_RETURN_IF_ERROR(Pop(&state));
      return Build(std::move(state));
    }
    case kBinPersId: {
      PickleValue pid;
      VMAE_RETURN_IF_ERROR(Pop(&pid));
      return PersistentLoad(pid);
    }
    default:
      return Invalid(absl::StrFormat("unknown opcode 0x%02x", op));
  }
}

absl::Status PickleMachine::PushTupleOf(size_t n) {
  if (stack_.size() < Floor() + n) {
    return Invalid("stack underflow");
  }
  std::vector<PickleValue> items(std::make_move_iterator(stack_.end() - n),
                                 std::make_move_iterator(stack_.end()));
  stack_.resize(stack_.size() - n);
  VMAE_ASSIGN_OR_RETURN(PickleValue tuple, MakeTuple(std::move(items)));
  return Push(std::move(tuple));
}

absl::Status PickleMachine::SetItems(std::vector<PickleValue> items) {
  if (items.size() % 2 != 0) {
    return Invalid("SETITEMS with an odd number of values");
  }
  PickleValue* target = nullptr;
  VMAE_RETURN_IF_ERROR(Top(&target));
  if (target->is_opaque() && !target->as_opaque().is_global) {
    return absl::OkStatus();  // An object's own items are not kept.
  }
  if (!target->is_dict()) {
    return Invalid(absl::StrCat("SETITEM on a ", target->TypeName(), ", not a dict"));
  }
  PickleDict* dict = std::get<std::shared_ptr<PickleDict>>(target->v_).get();
  VMAE_RETURN_IF_ERROR(CheckMutable(*dict, "SETITEM"));
  VMAE_RETURN_IF_ERROR(CountItems(items.size() / 2));
  for (size_t i = 0; i < items.size(); i += 2) {
    VMAE_RETURN_IF_ERROR(Nest(dict, items[i]));
    VMAE_RETURN_IF_ERROR(Nest(dict, items[i + 1]));
    dict->Set(std::move(items[i]), std::move(items[i + 1]));
  }
  return absl::OkStatus();
}

absl::Status PickleMachine::Appends(std::vector<PickleValue> items) {
  PickleValue* target = nullptr;
  VMAE_RETURN_IF_ERROR(Top(&target));
  if (target->is_opaque() && !target->as_opaque().is_global) {
    return absl::OkStatus();  // An object's own items are not kept.
  }
  if (!target->is_list()) {
    return Invalid(absl::StrCat("APPEND on a ", target->TypeName(), ", not a list"));
  }
  PickleList* list = std::get<std::shared_ptr<PickleList>>(target->v_).get();
  VMAE_RETURN_IF_ERROR(CheckMutable(*list, "APPEND"));
  VMAE_RETURN_IF_ERROR(CountItems(items.size()));
  for (PickleValue& item : items) {
    VMAE_RETURN_IF_ERROR(Nest(list, item));
    list->items.push_back(std::move(item));
  }
  return absl::OkStatus();
}

absl::Status PickleMachine::MemoPut(uint64_t index) {
  PickleValue* top = nullptr;
  VMAE_RETURN_IF_ERROR(Top(&top));
  if (index > std::numeric_limits<uint32_t>::max()) {
    return Invalid("memo index out of range");
  }
  auto it = memo_.find(static_cast<uint32_t>(index));
  if (it != memo_.end()) {
    it->second = *top;
    return absl::OkStatus();
  }
  if (memo_.size() >= static_cast<uint64_t>(limits_.max_memo)) {
    return Invalid(absl::StrCat("more than ", limits_.max_memo, " memo entries"));
  }
  memo_.emplace(static_cast<uint32_t>(index), *top);
  return absl::OkStatus();
}

absl::Status PickleMachine::MemoGet(uint64_t index) {
  auto it = memo_.find(static_cast<uint32_t>(index));
  if (index > std::numeric_limits<uint32_t>::max() || it == memo_.end()) {
    return Invalid(absl::StrCat("memo entry ", index, " is not set"));
  }
  PickleValue copy = it->second;
  return Push(std::move(copy));
}

absl::Status PickleMachine::PushString(int len_bytes, bool bytes) {
  VMAE_ASSIGN_OR_RETURN(const uint64_t len, ReadLE(len_bytes));
  absl::string_view s;
  VMAE_RETURN_IF_ERROR(ReadBytes(len, &s));  // Bounded by the bytes left.
  if (bytes) {
    return Push(PickleValue(PickleBytes{std::string(s)}));
  }
  return Push(PickleValue(std::string(s)));
}

absl::Status PickleMachine::PushLong(uint64_t n) {
  absl::string_view b;
  VMAE_RETURN_IF_ERROR(ReadBytes(n, &b));
  if (n > 8) {
    // Wider than int64 (e.g. a seed in `args`): keep a placeholder.
    VMAE_ASSIGN_OR_RETURN(PickleValue big, MakeOpaqueObject("builtins", "int", PickleValue()));
    return Push(std::move(big));
  }
  uint64_t v = 0;
  for (int i = static_cast<int>(n) - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<uint8_t>(b[i]);
  }
  if (n > 0 && n < 8 && (static_cast<uint8_t>(b[n - 1]) & 0x80) != 0) {
    v |= ~uint64_t{0} << (8 * n);  // Two's complement sign extension.
  }
  return Push(PickleValue(static_cast<int64_t>(v)));
}

absl::Status PickleMachine::Reduce(const PickleValue& callable, PickleValue args) {
  if (!callable.is_opaque()) {
    return Invalid(absl::StrCat("REDUCE calls a ", callable.TypeName()));
  }
  if (!args.is_tuple()) {
    return Invalid(absl::StrCat("REDUCE arguments are a ", args.TypeName(), ", not a tuple"));
  }
  const PickleOpaque& f = callable.as_opaque();
  if (f.is_global) {
    if (f.module == "collections" && f.name == "OrderedDict" && args.as_tuple().empty()) {
      return Push(PickleValue(std::make_shared<PickleDict>()));
    }
    if (f.module == "torch._utils") {
      if (f.name == "_rebuild_tensor_v2") {
        return RebuildTensor(args.as_tuple(), /*v2=*/true);
      }
      if (f.name == "_rebuild_tensor") {
        return RebuildTensor(args.as_tuple(), /*v2=*/false);
      }
      if (f.name == "_rebuild_parameter" || f.name == "_rebuild_parameter_with_state") {
        return RebuildParameter(args.as_tuple());
      }
    }
    if (f.module == "_codecs" && f.name == "encode") {
      return Latin1Encode(f, std::move(args));
    }
  }
  // Anything else: record, never call.
  VMAE_ASSIGN_OR_RETURN(PickleValue obj, MakeOpaqueObject(f.module, f.name, std::move(args)));
  return Push(std::move(obj));
}

absl::Status PickleMachine::NewObj(const PickleValue& cls, PickleValue args) {
  if (!cls.is_opaque()) {
    return Invalid(absl::StrCat("NEWOBJ of a ", cls.TypeName(), ", not a class"));
  }
  if (!args.is_tuple()) {
    return Invalid(absl::StrCat("NEWOBJ arguments are a ", args.TypeName(), ", not a tuple"));
  }
  const PickleOpaque& c = cls.as_opaque();
  if (c.is_global && c.module == "collections" && c.name == "OrderedDict") {
    return Push(PickleValue(std::make_shared<PickleDict>()));
  }
  VMAE_ASSIGN_OR_RETURN(PickleValue obj, MakeOpaqueObject(c.module, c.name, std::move(args)));
  return Push(std::move(obj));
}

absl::Status PickleMachine::Build(PickleValue state) {
  PickleValue* target = nullptr;
  VMAE_RETURN_IF_ERROR(Top(&target));
  switch (target->type()) {
    case PickleValue::Type::kDict:
      // OrderedDict attributes, e.g. a state dict's `_metadata`: not needed.
      return absl::OkStatus();
    case PickleValue::Type::kTensor:
      // Tensor subclass / Parameter attributes: not needed.
      return absl::OkStatus();
    case PickleValue::Type::kOpaque: {
      PickleOpaque* obj = std::get<std::shared_ptr<PickleOpaque>>(target->v_).get();
      if (obj->is_global || obj->nested || NodeOf(state) == obj) {
        // A class attribute, or state that refers back to the object
        // (recursive): the placeholder keeps no state rather than a cycle.
        return absl::OkStatus();
      }
      VMAE_RETURN_IF_ERROR(Nest(obj, state));
      obj->state = std::move(state);
      return absl::OkStatus();
    }
    default:
      return Invalid(absl::StrCat("BUILD on a ", target->TypeName()));
  }
}

absl::Status PickleMachine::PersistentLoad(const PickleValue& pid) {
  // torch.save: ('storage', torch.<Type>Storage, key, location, numel).
  if (!pid.is_tuple() || pid.as_tuple().size() != 5 || !pid.as_tuple()[0].is_string() ||
      pid.as_tuple()[0].as_string() != "storage") {
    return Invalid(absl::StrCat("unsupported persistent id ", pid.DebugString(2)));
  }
  const std::vector<PickleValue>& t = pid.as_tuple();
  c10::ScalarType dtype = c10::ScalarType::Float;
  if (!t[1].is_opaque() || !t[1].as_opaque().is_global ||
      !StorageClassDtype(t[1].as_opaque().module, t[1].as_opaque().name, &dtype)) {
    return Invalid(
        absl::StrCat("persistent id names ", t[1].DebugString(1), ", not a torch storage class"));
  }
  if (!t[2].is_string() || !t[3].is_string() || !t[4].is_int()) {
    return Invalid(absl::StrCat("malformed storage id ", pid.DebugString(2)));
  }
  const std::string& key = t[2].as_string();
  const int64_t numel = t[4].as_int();
  if (key.empty() || key.size() > kMaxStorageKey ||
      !std::all_of(key.begin(), key.end(), [](char ch) {
        return absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' ||
               ch == '.';
      })) {
    return Invalid(absl::StrCat("bad storage key '", Shorten(key), "'"));
  }
  if (numel < 0) {
    return Invalid(absl::StrCat("storage '", key, "' has ", numel, " elements"));
  }
  auto it = storages_.find(key);
  if (it != storages_.end()) {
    if (it->second->dtype != dtype || it->second->numel != numel) {
      return Invalid(absl::StrCat("storage '", key, "' is named as both ",
                                  c10::toString(it->second->dtype), "[", it->second->numel,
                                  "] and ", c10::toString(dtype), "[", numel, "]"));
    }
    return Push(PickleValue(it->second));
  }
  if (!loader_) {
    return Invalid(absl::StrCat("storage '", key, "' referenced but no storage records"));
  }
  const uint64_t item = c10::elementSize(dtype);
  if (static_cast<uint64_t>(numel) > std::numeric_limits<int64_t>::max() / item) {
    return Invalid(absl::StrCat("storage '", key, "' of ", numel, " elements is too large"));
  }
  VMAE_ASSIGN_OR_RETURN(c10::Storage storage, loader_(key, dtype, numel));
  if (storage.nbytes() != numel * item) {
    return absl::InternalError(absl::StrCat(context_, ": storage '", key, "' loaded with ",
                                            storage.nbytes(), " bytes, expected ", numel * item));
  }
  auto s =
      std::make_shared<const PickleStorage>(PickleStorage{std::move(storage), dtype, numel, key});
  storages_.emplace(key, s);
  return Push(PickleValue(std::move(s)));
}

absl::Status PickleMachine::RebuildTensor(const std::vector<PickleValue>& args, bool v2) {
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  //                    backward_hooks[, metadata]); _rebuild_tensor(storage,
  //                    storage_offset, size, stride).
  const bool arity_ok = v2 ? (args.size() == 6 || args.size() == 7) : args.size() == 4;
  if (!arity_ok) {
    return Invalid(absl::StrCat("tensor rebuilt from ", args.size(), " arguments"));
  }
  if (!args[0].is_storage() || !args[1].is_int() || !args[2].is_tuple() || !args[3].is_tuple() ||
      (v2 && !args[4].is_bool())) {
    return Invalid(absl::StrCat("malformed tensor arguments (",
                                DebugItems(args, [](const PickleValue& v) { return v.TypeName(); }),
                                ")"));
  }
  const PickleStorage& storage = args[0].as_storage();
  const int64_t offset = args[1].as_int();
  const std::vector<PickleValue>& size_v = args[2].as_tuple();
  const std::vector<PickleValue>& stride_v = args[3].as_tuple();
  if (size_v.size() != stride_v.size() ||
      size_v.size() > static_cast<size_t>(limits_.max_tensor_dims)) {
    return Invalid(absl::StrCat("tensor with ", size_v.size(), " sizes and ", stride_v.size(),
                                " strides (at most ", limits_.max_tensor_dims, " dims)"));
  }
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  for (size_t i = 0; i < size_v.size(); ++i) {
    if (!size_v[i].is_int() || !stride_v[i].is_int() || size_v[i].as_int() < 0 ||
        stride_v[i].as_int() < 0) {
      return Invalid(absl::StrCat("bad tensor size ", args[2].DebugString(1), " / stride ",
                                  args[3].DebugString(1)));
    }
    sizes.push_back(size_v[i].as_int());
    strides.push_back(stride_v[i].as_int());
  }
  // Elements (must fit int64) and the last storage element the view reaches.
  int64_t numel = 1;
  int64_t last = offset;  // Index of the last element reached.
  bool overflow = offset < 0;
  for (size_t i = 0; i < sizes.size() && !overflow; ++i) {
    overflow |= __builtin_mul_overflow(numel, sizes[i], &numel);
    if (sizes[i] > 0) {
      int64_t reach = 0;
      overflow |= __builtin_mul_overflow(sizes[i] - 1, strides[i], &reach);
      overflow |= __builtin_add_overflow(last, reach, &last);
    }
  }
  const auto describe = [&] {
    return absl::StrCat("[", absl::StrJoin(sizes, ", "), "] stride [", absl::StrJoin(strides, ", "),
                        "] offset ", offset, " of storage '", storage.key, "' (", storage.numel,
                        " elements)");
  };
  if (offset < 0) {
    return Invalid(absl::StrCat("negative storage offset: ", describe()));
  }
  if (overflow) {
    return Invalid(absl::StrCat("tensor size overflows: ", describe()));
  }
  const bool fits = numel == 0 ? offset <= storage.numel : last < storage.numel;
  if (!fits) {
    return Invalid(absl::StrCat("tensor exceeds its storage: ", describe()));
  }
  try {
    at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(storage.dtype));
    tensor.set_(storage.storage, offset, sizes, strides);
    return Push(PickleValue(std::move(tensor)));
  } catch (const std::exception& e) {
    return Invalid(absl::StrCat("cannot build tensor ", describe(), ": ", e.what()));
  }
}

absl::Status PickleMachine::RebuildParameter(const std::vector<PickleValue>& args) {
  // _rebuild_parameter(data, requires_grad, backward_hooks[, state]).
  if ((args.size() != 3 && args.size() != 4) || !args[0].is_tensor() || !args[1].is_bool()) {
    return Invalid("malformed parameter arguments");
  }
  return Push(args[0]);
}

absl::Status PickleMachine::Latin1Encode(const PickleOpaque& f, PickleValue args) {
  // Protocol 2 writes bytes b as _codecs.encode(b.decode('latin1'), 'latin1').
  const std::vector<PickleValue>& a = args.as_tuple();
  if (a.size() != 2 || !a[0].is_string() || !a[1].is_string() ||
      (a[1].as_string() != "latin1" && a[1].as_string() != "latin-1")) {
    VMAE_ASSIGN_OR_RETURN(PickleValue obj, MakeOpaqueObject(f.module, f.name, std::move(args)));
    return Push(std::move(obj));
  }
  // UTF-8 of code points < 256 back to one byte each.
  const std::string& s = a[0].as_string();
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c == 0xc2 || c == 0xc3) && i + 1 < s.size() &&
               (static_cast<uint8_t>(s[i + 1]) & 0xc0) == 0x80) {
      out.push_back(static_cast<char>(((c & 0x03) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3f)));
      ++i;
    } else {
      return Invalid("_codecs.encode of a string that is not latin-1");
    }
  }
  return Push(PickleValue(PickleBytes{std::move(out)}));
}

}  // namespace internal

absl::StatusOr<PickleValue> ParsePickle(absl::string_view data, const StorageLoader& loader,
                                        const PickleLimits& limits, absl::string_view context) {
  internal::PickleMachine machine(data, loader, limits, context);
  return machine.Run();
}

}  // namespace vmae::checkpoint
