#include "worker/checkpoint/pickle_reader.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/checkpoint/test_util.h"

namespace vmae::checkpoint {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::string_literals;  // NOLINT: "\0"s in pickle bytes.
using pth_testing::StatusIs;

const auto* const kOneThread =
    ::testing::AddGlobalTestEnvironment(new pth_testing::OneThreadEnvironment);

// --- Pickle assembly (the opcodes Python writes; see Lib/pickletools.py).
std::string LE(uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return out;
}
const std::string kProto2 = "\x80\x02"s;
std::string Str(const std::string& s) { return "X" + LE(s.size(), 4) + s; }
std::string Int(int64_t v) { return "J" + LE(static_cast<uint32_t>(v), 4); }
std::string Global(const std::string& module, const std::string& name) {
  return "c" + module + "\n" + name + "\n";
}
std::string Ints(const std::vector<int64_t>& xs) {
  std::string out = "(";
  for (int64_t x : xs) {
    out += Int(x);
  }
  return out + "t";
}
std::string StoragePid(const std::string& cls, const std::string& key, int64_t numel) {
  return "(" + Str("storage") + Global("torch", cls) + Str(key) + Str("cpu") + Int(numel) + "tQ";
}
std::string Rebuild(const std::string& pid, int64_t offset, const std::vector<int64_t>& size,
                    const std::vector<int64_t>& stride) {
  return Global("torch._utils", "_rebuild_tensor_v2") + "(" + pid + Int(offset) + Ints(size) +
         Ints(stride) + "\x89" + Global("collections", "OrderedDict") + ")R" + "tR";
}
// {key: value, ...} from already-encoded keys and values.
std::string Dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out = "}(";
  for (const auto& [k, v] : items) {
    out += k + v;
  }
  return out + "u";
}
std::string Pickle(const std::string& body) { return kProto2 + body + "."; }

// Storages whose float elements are 0, 1, 2, ... (bool: false); counts calls.
struct FakeStorages {
  int calls = 0;
  StorageLoader Loader() {
    return [this](const std::string& key, c10::ScalarType dtype,
                  int64_t numel) -> absl::StatusOr<c10::Storage> {
      ++calls;
      if (numel > (int64_t{1} << 18)) {
        return absl::InvalidArgumentError("fake storage too large");
      }
      const auto opts = at::TensorOptions().dtype(dtype);
      at::Tensor t = dtype == at::kBool ? at::zeros({numel}, opts) : at::arange(numel, opts);
      return t.storage();
    };
  }
};

absl::StatusOr<PickleValue> Parse(const std::string& bytes, const PickleLimits& limits = {}) {
  return ParsePickle(bytes, StorageLoader(), limits, "test.pkl");
}

TEST(PickleReaderTest, ParsesScalarsAndContainers) {
  const std::string bytes = Pickle(Dict({
      {Str("list"),
       "](K\x01J\xfe\xff\xff\xffG\x40\x0c\x00\x00\x00\x00\x00\x00N\x88\x89"
       "e"s},
      {Str("tuple"), "K\x01M\x34\x12K\x03\x87"s},
      {Str("bytes"), "C\x02xy"s},
      {"K\x07"s, Str("seven")},
      {Str("long"), "\x8a\x06\x00\x00\x00\x00\x00\x01"s},  // 2**40
      {Str("neg"), "\x8a\x02\x00\xff"s},                   // -256
      {Str("huge"), "\x8a\x09" + std::string(9, '\x01')},  // > int64
      {Str("short"),
       "\x8c\x03"
       "abc"s},
  }));
  absl::StatusOr<PickleValue> v = Parse(bytes);
  ASSERT_OK(v);
  ASSERT_TRUE(v->is_dict());
  const PickleDict& d = v->as_dict();
  ASSERT_EQ(d.items.size(), 8u);
  EXPECT_EQ(d.items[0].first.as_string(), "list");  // Insertion order.

  const std::vector<PickleValue>& list = d.Find("list")->as_list();
  ASSERT_EQ(list.size(), 6u);
  EXPECT_EQ(list[0].as_int(), 1);
  EXPECT_EQ(list[1].as_int(), -2);
  EXPECT_EQ(list[2].as_float(), 3.5);
  EXPECT_TRUE(list[3].is_none());
  EXPECT_TRUE(list[4].as_bool());
  EXPECT_FALSE(list[5].as_bool());

  const std::vector<PickleValue>& tuple = d.Find("tuple")->as_tuple();
  ASSERT_EQ(tuple.size(), 3u);
  EXPECT_EQ(tuple[1].as_int(), 0x1234);
  EXPECT_EQ(d.Find("bytes")->as_bytes(), "xy");
  EXPECT_EQ(d.Find(7)->as_string(), "seven");
  EXPECT_EQ(d.Find("long")->as_int(), int64_t{1} << 40);
  EXPECT_EQ(d.Find("neg")->as_int(), -256);
  EXPECT_EQ(d.Find("huge")->TypeName(), "opaque builtins.int object");
  EXPECT_EQ(d.Find("short")->as_string(), "abc");
  EXPECT_EQ(d.Find("missing"), nullptr);
  EXPECT_THAT(v->DebugString(), HasSubstr("'list': [1, -2, 3.5, None, ... (6 items)]"));
}

TEST(PickleReaderTest, RepeatedKeyReplacesValueInPlace) {
  absl::StatusOr<PickleValue> v =
      Parse(Pickle(Dict({{Str("a"), "K\x01"s}, {Str("b"), "K\x02"s}, {Str("a"), "K\x03"s}})));
  ASSERT_OK(v);
  const PickleDict& d = v->as_dict();
  ASSERT_EQ(d.items.size(), 2u);
  EXPECT_EQ(d.items[0].first.as_string(), "a");
  EXPECT_EQ(d.items[0].second.as_int(), 3);
}

TEST(PickleReaderTest, UnknownOpcodeNamesByteAndOffset) {
  EXPECT_THAT(Parse("\x80\x02}\xfe."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "offset 3: unknown opcode 0xfe"));
  EXPECT_THAT(Parse("\x80\x02S'py2 string'\n."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown opcode 0x53"));
  EXPECT_THAT(Parse("\x80\x02}\xfe."s), StatusIs(absl::StatusCode::kInvalidArgument, "test.pkl"));
}

TEST(PickleReaderTest, TruncatedPickleIsDataLoss) {
  EXPECT_THAT(Parse(""), StatusIs(absl::StatusCode::kDataLoss, "without STOP"));
  EXPECT_THAT(Parse("\x80\x02}"s), StatusIs(absl::StatusCode::kDataLoss, "without STOP"));
  EXPECT_THAT(Parse("\x80\x02X\x05\x00\x00\x00"
                    "ab"s),
              StatusIs(absl::StatusCode::kDataLoss, "needs 5 bytes, 2 left"));
  EXPECT_THAT(Parse("\x80"s), StatusIs(absl::StatusCode::kDataLoss, "truncated"));
  EXPECT_THAT(Parse("cos\nsys"s), StatusIs(absl::StatusCode::kDataLoss, "GLOBAL"));
}

TEST(PickleReaderTest, HugeDeclaredLengthsFailWithoutAllocating) {
  const std::string big8 = LE(uint64_t{1} << 62, 8);
  EXPECT_THAT(Parse("\x80\x02\x8d"s + big8 + "."),
              StatusIs(absl::StatusCode::kDataLoss, "truncated"));
  EXPECT_THAT(Parse("\x80\x02\x8e"s + big8 + "."),
              StatusIs(absl::StatusCode::kDataLoss, "truncated"));
  EXPECT_THAT(Parse("\x80\x02X\xff\xff\xff\xff."s),
              StatusIs(absl::StatusCode::kDataLoss, "truncated"));
  EXPECT_THAT(Parse("\x80\x02\x8b\xff\xff\xff\x7f."s),
              StatusIs(absl::StatusCode::kDataLoss, "truncated"));
  EXPECT_THAT(Parse("\x80\x02\x8b\xff\xff\xff\xff."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative length"));
  EXPECT_THAT(Parse("\x95"s + big8 + "N."), StatusIs(absl::StatusCode::kDataLoss, "FRAME"));
  EXPECT_THAT(Parse("c" + std::string(5000, 'a') + "\nb\n."),
              StatusIs(absl::StatusCode::kInvalidArgument, "longer than"));
}

TEST(PickleReaderTest, StackDisciplineIsChecked) {
  EXPECT_THAT(Parse("\x80\x02s."s), StatusIs(absl::StatusCode::kInvalidArgument, "underflow"));
  EXPECT_THAT(Parse("\x80\x02."s), StatusIs(absl::StatusCode::kInvalidArgument, "underflow"));
  EXPECT_THAT(Parse("\x80\x02t."s), StatusIs(absl::StatusCode::kInvalidArgument, "no MARK"));
  // APPEND inside a MARK segment cannot reach the list below the MARK.
  EXPECT_THAT(Parse("\x80\x02](K\x01"
                    "a."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "underflow"));
  EXPECT_THAT(Parse("\x80\x02K\x00K\x01K\x02s."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "SETITEM on a int"));
  EXPECT_THAT(Parse("\x80\x02}(K\x01u."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "odd number"));
  EXPECT_THAT(Parse("\x80\x02h\x05."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "memo entry 5 is not set"));
  EXPECT_THAT(Parse("\x80\x02K\x01)R."s),
              StatusIs(absl::StatusCode::kInvalidArgument, "REDUCE calls a int"));
  EXPECT_THAT(Parse("\x80\x02\x81."s), StatusIs(absl::StatusCode::kInvalidArgument, "underflow"));
  // POP, POP_MARK and DUP.
  absl::StatusOr<PickleValue> v = Parse(
      "\x80\x02K\x01K\x02"
      "0(K\x03"
      "1"
      "2\x86."s);
  ASSERT_OK(v);
  EXPECT_EQ(v->DebugString(), "(1, 1)");
}

TEST(PickleReaderTest, GlobalsAreNeverCalled) {
  pth_testing::TempDir dir;
  const std::string marker = dir.File("pwned");
  for (const std::string module : {"os", "posix", "subprocess", "builtins", "__builtin__"}) {
    const std::string name = module == "subprocess"                            ? "call"
                             : module == "builtins" || module == "__builtin__" ? "eval"
                                                                               : "system";
    absl::StatusOr<PickleValue> v =
        Parse(Pickle(Global(module, name) + Str("touch " + marker) + "\x85R"));
    ASSERT_OK(v);
    ASSERT_TRUE(v->is_opaque());
    const PickleOpaque& o = v->as_opaque();
    EXPECT_EQ(o.module, module == "__builtin__" ? "builtins" : module);
    EXPECT_EQ(o.name, name);
    EXPECT_FALSE(o.is_global);
    EXPECT_EQ(o.args.as_tuple().at(0).as_string(), "touch " + marker);
  }
  // STACK_GLOBAL too.
  absl::StatusOr<PickleValue> v =
      Parse(Pickle(Str("os") + Str("system") + "\x93" + Str("touch " + marker) + "\x85R"));
  ASSERT_OK(v);
  EXPECT_EQ(v->TypeName(), "opaque os.system object");
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(PickleReaderTest, OpaqueObjectKeepsArgsAndState) {
  // argparse.Namespace(lr=0.5) as protocol 2 writes it: NEWOBJ then BUILD.
  const std::string ns = Global("argparse", "Namespace") + ")\x81" +
                         Dict({{Str("lr"), "G\x3f\xe0\x00\x00\x00\x00\x00\x00"s}}) + "b";
  // An object with SETITEMS / APPENDS of its own (discarded, not an error).
  const std::string custom = Global("mylib", "Bag") + ")R" + "(" + Str("k") + "K\x01u" +
                             "(K\x02"
                             "e";
  absl::StatusOr<PickleValue> v = Parse(Pickle(Dict({{Str("args"), ns}, {Str("bag"), custom}})));
  ASSERT_OK(v);
  const PickleOpaque& args = v->as_dict().Find("args")->as_opaque();
  EXPECT_EQ(args.module, "argparse");
  EXPECT_EQ(args.name, "Namespace");
  EXPECT_EQ(args.state.as_dict().Find("lr")->as_float(), 0.5);
  EXPECT_EQ(v->as_dict().Find("bag")->TypeName(), "opaque mylib.Bag object");
  // BUILD on a plain type is malformed.
  EXPECT_THAT(Parse(Pickle("K\x01}b")), StatusIs(absl::StatusCode::kInvalidArgument, "BUILD on"));
}

TEST(PickleReaderTest, Latin1EncodedBytesBecomeBytes) {
  // Protocol 2 writes b'\x00\xffab' as _codecs.encode('\x00\xc3\xbfab', 'latin1').
  absl::StatusOr<PickleValue> v = Parse(Pickle(Global("_codecs", "encode") +
                                               Str("\x00\xc3\xbf"
                                                   "ab"s) +
                                               Str("latin1") + "\x86R"));
  ASSERT_OK(v);
  EXPECT_EQ(v->as_bytes(),
            "\x00\xff"
            "ab"s);
}

TEST(PickleReaderTest, MemoSharesContainers) {
  // x = [1, 2]; (x, x)
  absl::StatusOr<PickleValue> v =
      Parse(Pickle("]q\x00(K\x01K\x02"
                   "eh\x00\x86"s));
  ASSERT_OK(v);
  const std::vector<PickleValue>& t = v->as_tuple();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(&t[0].as_list(), &t[1].as_list());
  EXPECT_EQ(t[1].as_list().size(), 2u);
  // MEMOIZE numbers entries in order.
  v = Parse(Pickle("K\x05\x94K\x06\x94h\x00h\x01\x86"s));
  ASSERT_OK(v);
  EXPECT_EQ(v->DebugString(), "(5, 6)");
}

TEST(PickleReaderTest, RecursiveStructuresAreRejected) {
  // l = []; l.append(l)
  EXPECT_THAT(Parse(Pickle("]q\x00h\x00"
                           "a"s)),
              StatusIs(absl::StatusCode::kInvalidArgument, "contain itself"));
  // a = []; b = [a]; a.append(b)
  EXPECT_THAT(Parse(Pickle("]q\x00]h\x00"
                           "aa"s)),
              StatusIs(absl::StatusCode::kInvalidArgument, "recursive"));
  // d = {}; d['d'] = d
  EXPECT_THAT(Parse(Pickle("}q\x00"s + Str("d") + "h\x00s"s)),
              StatusIs(absl::StatusCode::kInvalidArgument, "contain itself"));
  // An object whose state refers to itself keeps no state instead.
  absl::StatusOr<PickleValue> v =
      Parse(Pickle(Global("m", "Node") + ")\x81q\x00}("s + Str("self") + "h\x00ub"s));
  ASSERT_OK(v);
  EXPECT_TRUE(v->as_opaque().state.is_none());
}

TEST(PickleReaderTest, NestingDepthIsBounded) {
  PickleLimits limits;
  limits.max_nesting = 100;
  EXPECT_OK(Parse(Pickle("N" + std::string(100, '\x85')), limits));
  EXPECT_THAT(Parse(Pickle("N" + std::string(101, '\x85')), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "nest deeper than 100"));
  // The default bound keeps a 10 MB tower of TUPLE1 from blowing the stack.
  EXPECT_THAT(Parse(Pickle("N" + std::string(10'000'000, '\x85'))),
              StatusIs(absl::StatusCode::kInvalidArgument, "nest deeper than 1000"));
}

TEST(PickleReaderTest, SizeLimitsAreEnforced) {
  PickleLimits limits;
  limits.max_stack = 10;
  EXPECT_OK(Parse(Pickle(std::string(10, 'N') + std::string(9, '0')), limits));
  EXPECT_THAT(Parse(Pickle(std::string(11, 'N')), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "stack deeper than 10"));
  EXPECT_THAT(Parse(Pickle(std::string(11, '(')), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "open MARKs"));

  limits = PickleLimits();
  limits.max_items = 5;
  EXPECT_OK(Parse(Pickle("](NNNNNe"), limits));
  EXPECT_THAT(Parse(Pickle("](NNNNNNe"), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "more than 5 container items"));
  EXPECT_THAT(Parse(Pickle("](NNNe(NNNe"), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "container items"));

  limits = PickleLimits();
  limits.max_memo = 2;
  EXPECT_OK(Parse(Pickle("Nq\x00q\x01q\x00"s), limits));
  EXPECT_THAT(Parse(Pickle("Nq\x00q\x01q\x02"s), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "memo entries"));
  // A sparse 4-byte memo index costs one entry, not a table of 4G.
  EXPECT_OK(Parse(Pickle("Nr\xff\xff\xff\xffj\xff\xff\xff\xff\x86"s), limits));

  limits = PickleLimits();
  limits.max_pickle_bytes = 16;
  EXPECT_THAT(Parse(Pickle(std::string(20, 'N')), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds the limit of 16"));
}

TEST(PickleReaderTest, BuildsTensorViewsOfOneStorage) {
  FakeStorages fake;
  const std::string pid = StoragePid("FloatStorage", "0", 12);
  const std::string bytes = Pickle(Dict({
      {Str("full"), Rebuild(pid, 0, {3, 4}, {4, 1})},
      {Str("t"), Rebuild(pid, 0, {4, 3}, {1, 4})},
      {Str("tail"), Rebuild(pid, 9, {3}, {1})},
      {Str("scalar"), Rebuild(pid, 11, {}, {})},
      {Str("bcast"), Rebuild(pid, 5, {2, 3}, {0, 0})},
      {Str("empty"), Rebuild(pid, 12, {0}, {1})},
  }));
  absl::StatusOr<PickleValue> v = ParsePickle(bytes, fake.Loader());
  ASSERT_OK(v);
  EXPECT_EQ(fake.calls, 1);  // One storage, loaded once.
  const PickleDict& d = v->as_dict();
  const at::Tensor& full = d.Find("full")->as_tensor();
  const at::Tensor& t = d.Find("t")->as_tensor();
  EXPECT_EQ(full.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(t, full.t()));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.storage().data(), full.storage().data());
  EXPECT_THAT(pth_testing::Floats(d.Find("tail")->as_tensor()), ElementsAre(9, 10, 11));
  EXPECT_EQ(d.Find("scalar")->as_tensor().dim(), 0);
  EXPECT_EQ(d.Find("scalar")->as_tensor().item<float>(), 11);
  EXPECT_THAT(pth_testing::Floats(d.Find("bcast")->as_tensor()), ElementsAre(5, 5, 5, 5, 5, 5));
  EXPECT_EQ(d.Find("empty")->as_tensor().numel(), 0);
  // Writes through one view show in the others (they share the storage).
  at::Tensor writable = full;
  writable.index_put_({0, 1}, 42.0f);
  EXPECT_EQ(t.index({1, 0}).item<float>(), 42.0f);
}

TEST(PickleReaderTest, TensorOutsideItsStorageIsRejected) {
  const std::string pid = StoragePid("FloatStorage", "0", 12);
  const auto parse = [&](const std::string& tensor) {
    FakeStorages fake;
    return ParsePickle(Pickle(tensor), fake.Loader());
  };
  EXPECT_THAT(parse(Rebuild(pid, 0, {13}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "tensor exceeds its storage"));
  EXPECT_THAT(parse(Rebuild(pid, 1, {3, 4}, {4, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds its storage"));
  EXPECT_THAT(parse(Rebuild(pid, 0, {2, 2}, {12, 1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds its storage"));
  EXPECT_THAT(parse(Rebuild(pid, 13, {0}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds its storage"));
  EXPECT_THAT(parse(Rebuild(pid, -1, {1}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative storage offset"));
  EXPECT_THAT(parse(Rebuild(pid, 0, {2}, {-1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "bad tensor size"));
  EXPECT_THAT(parse(Rebuild(pid, 0, {2, 3}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "2 sizes and 1 strides"));
  // Sizes whose product overflows int64 (stride 0 would otherwise fit).
  EXPECT_THAT(parse(Rebuild(pid, 0, {1 << 30, 1 << 30, 1 << 30}, {0, 0, 0})),
              StatusIs(absl::StatusCode::kInvalidArgument, "overflows"));
  EXPECT_THAT(parse(Rebuild(pid, 0, {1 << 30, 1 << 30}, {1 << 30, 1 << 30})),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds its storage"));
  EXPECT_THAT(parse(Rebuild(StoragePid("os", "0", 1), 0, {1}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a torch storage class"));
  EXPECT_THAT(parse(Rebuild(StoragePid("FloatStorage", "../x", 1), 0, {1}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "bad storage key"));
  EXPECT_THAT(parse(Rebuild(StoragePid("FloatStorage", "0", -1), 0, {1}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "-1 elements"));
  EXPECT_THAT(parse("(" + Str("other") + "tQ"),
              StatusIs(absl::StatusCode::kInvalidArgument, "unsupported persistent id"));
  EXPECT_THAT(parse(Global("torch._utils", "_rebuild_tensor_v2") + "(K\x01t" + "R"),
              StatusIs(absl::StatusCode::kInvalidArgument, "tensor rebuilt from 1 arguments"));
  // The loader's own errors pass through.
  EXPECT_THAT(parse(Rebuild(StoragePid("FloatStorage", "0", 1 << 30), 0, {1}, {1})),
              StatusIs(absl::StatusCode::kInvalidArgument, "fake storage too large"));
  // Without storage records.
  EXPECT_THAT(Parse(Pickle(Rebuild(pid, 0, {1}, {1}))),
              StatusIs(absl::StatusCode::kInvalidArgument, "no storage records"));
}

TEST(PickleReaderTest, OneKeyCannotNameTwoStorages) {
  FakeStorages fake;
  const std::string bytes =
      Pickle(Rebuild(StoragePid("FloatStorage", "0", 4), 0, {1}, {1}) +
             Rebuild(StoragePid("HalfStorage", "0", 4), 0, {1}, {1}) + "\x86");
  EXPECT_THAT(ParsePickle(bytes, fake.Loader()),
              StatusIs(absl::StatusCode::kInvalidArgument, "named as both Float[4] and Half[4]"));
}

TEST(PickleReaderTest, StorageClassesMapToDtypes) {
  c10::ScalarType t = c10::ScalarType::Undefined;
  EXPECT_TRUE(StorageClassDtype("torch", "BFloat16Storage", &t));
  EXPECT_EQ(t, c10::ScalarType::BFloat16);
  EXPECT_TRUE(StorageClassDtype("torch", "HalfStorage", &t));
  EXPECT_EQ(t, c10::ScalarType::Half);
  EXPECT_TRUE(StorageClassDtype("torch", "LongStorage", &t));
  EXPECT_EQ(t, c10::ScalarType::Long);
  EXPECT_FALSE(StorageClassDtype("torch", "Tensor", &t));
  EXPECT_FALSE(StorageClassDtype("os", "FloatStorage", &t));
}

TEST(PickleReaderTest, ParameterRebuildYieldsItsTensor) {
  FakeStorages fake;
  const std::string bytes = Pickle(Global("torch._utils", "_rebuild_parameter") + "(" +
                                   Rebuild(StoragePid("FloatStorage", "0", 3), 0, {3}, {1}) +
                                   "\x88" + Global("collections", "OrderedDict") + ")R" + "tR");
  absl::StatusOr<PickleValue> v = ParsePickle(bytes, fake.Loader());
  ASSERT_OK(v);
  EXPECT_THAT(pth_testing::Floats(v->as_tensor()), ElementsAre(0, 1, 2));
}

TEST(PickleReaderTest, WrongTypeAccessorAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(PickleValue(int64_t{1}).as_string(), "as_string\\(\\) called on a int");
}

// --- Fuzzing: mutated pickles must come back ok or as an error, never crash,
// hang or allocate without bound. Deterministic (fixed seed).

std::string Mutate(const std::string& seed, std::mt19937_64& rng) {
  static const char kOps[] =
      "()]}tsuaeRbQhqjrcXJKMGN\x80\x81\x85\x86\x87\x88\x89\x8a\x8b"
      "\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95.012";
  std::string s = seed;
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t n = s.size();
    const size_t at = n == 0 ? 0 : rng() % n;
    switch (rng() % 7) {
      case 0:  // Flip a bit.
        if (n > 0) {
          s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        }
        break;
      case 1:  // Random byte.
        if (n > 0) {
          s[at] = static_cast<char>(rng());
        }
        break;
      case 2:  // Insert an opcode.
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), kOps[rng() % (sizeof(kOps) - 1)]);
        break;
      case 3:  // Delete a short run.
        s.erase(at, 1 + rng() % 8);
        break;
      case 4:  // Duplicate a chunk elsewhere.
        if (n > 0) {
          const std::string chunk = s.substr(at, 1 + rng() % 32);
          s.insert(rng() % (s.size() + 1), chunk);
        }
        break;
      case 5:  // Truncate.
        s.resize(at);
        break;
      case 6:  // A large little-endian length or index after a random byte.
        if (n > 4) {
          const uint32_t big = rng() % 2 ? 0xffffffffu : static_cast<uint32_t>(rng());
          s.replace(at, std::min<size_t>(4, n - at), LE(big, 4));
        }
        break;
    }
  }
  return s;
}

TEST(PickleReaderTest, FuzzMutatedPicklesNeverCrash) {
  std::vector<std::string> seeds = {
      Pickle(Dict({
          {Str("w"), Rebuild(StoragePid("FloatStorage", "0", 12), 0, {3, 4}, {4, 1})},
          {Str("v"), Rebuild(StoragePid("HalfStorage", "1", 4), 1, {3}, {1})},
          {Str("args"),
           Global("argparse", "Namespace") + ")\x81" + Dict({{Str("lr"), "K\x01"s}}) + "b"},
          {Str("l"),
           "]q\x00(K\x01K\x02"
           "eh\x00\x86"s},
      })),
  };
  const auto& fx = pth_testing::GetFixtures();
  if (fx.have_python_torch && fx.error.empty()) {
    seeds.push_back(pth_testing::ReadBytes(pth_testing::Fixture("train.data.pkl")));
    ASSERT_GT(seeds.back().size(), 1000u);
  }
  PickleLimits limits;
  limits.max_items = 100'000;
  limits.max_stack = 100'000;
  std::mt19937_64 rng(20240611);
  int ok = 0;
  int failed = 0;
  for (const std::string& seed : seeds) {
    FakeStorages fake;
    ASSERT_OK(ParsePickle(seed, fake.Loader(), limits));
    for (int i = 0; i < 10000; ++i) {
      const std::string input = Mutate(seed, rng);
      absl::StatusOr<PickleValue> v = ParsePickle(input, fake.Loader(), limits, "fuzz");
      if (v.ok()) {
        ++ok;
        (void)v->DebugString(4);
      } else {
        ++failed;
        EXPECT_TRUE(v.status().code() == absl::StatusCode::kInvalidArgument ||
                    v.status().code() == absl::StatusCode::kDataLoss)
            << v.status();
      }
    }
  }
  // Both outcomes occur, so the mutations reach past the first opcodes.
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
  std::printf("fuzz: %d parsed, %d rejected\n", ok, failed);
}

}  // namespace
}  // namespace vmae::checkpoint
