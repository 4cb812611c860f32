#include "common/checkpoint/safetensors.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/checkpoint/test_util.h"

namespace vmae::checkpoint {
namespace {

using ::testing::ElementsAre;
using testing::F32Bytes;
using ::testing::IsEmpty;
using testing::LittleEndian;
using ::testing::Pair;
using testing::ReadFile;
using testing::SafetensorsBytes;
using testing::StatusIs;
using testing::TempDir;
using ::testing::UnorderedElementsAre;
using testing::WriteFile;

// What Python's `safetensors.torch.save_file({"weight": tensor([[1., 2.],
// [3., 4.]]), "bias": tensor([0.5, -1.])}, path, metadata={"format": "pt"})`
// writes, spelled out byte by byte: the length 152 (0x98), the compact
// header (149 bytes) plus 3 spaces of padding, then little-endian binary32
// data in header order (bias, then weight).
const std::string kReferenceHeader =
    R"({"__metadata__":{"format":"pt"},)"
    R"("bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
    R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})"
    "   ";
const std::string kReferenceFile = std::string("\x98\x00\x00\x00\x00\x00\x00\x00", 8) +
                                   kReferenceHeader +
                                   std::string(
                                       "\x00\x00\x00\x3f"   // 0.5
                                       "\x00\x00\x80\xbf"   // -1.0
                                       "\x00\x00\x80\x3f"   // 1.0
                                       "\x00\x00\x00\x40"   // 2.0
                                       "\x00\x00\x40\x40"   // 3.0
                                       "\x00\x00\x80\x40",  // 4.0
                                       24);

class SafetensorsTest : public ::testing::Test {
 protected:
  // Writes `bytes` to a file and opens it.
  absl::StatusOr<SafetensorsFile> OpenBytes(const std::string& bytes) {
    const std::string path = dir_.File("t.safetensors");
    WriteFile(path, bytes);
    return SafetensorsFile::Open(path);
  }
  // A file whose header is `header` and whose data section is `data_size`
  // zero bytes.
  absl::StatusOr<SafetensorsFile> OpenHeader(const std::string& header, size_t data_size) {
    return OpenBytes(SafetensorsBytes(header, std::string(data_size, '\0')));
  }

  TempDir dir_;
};

TEST_F(SafetensorsTest, DtypeSizesMatchTheFormat) {
  EXPECT_EQ(DtypeSize("F64"), 8);
  EXPECT_EQ(DtypeSize("F32"), 4);
  EXPECT_EQ(DtypeSize("F16"), 2);
  EXPECT_EQ(DtypeSize("BF16"), 2);
  EXPECT_EQ(DtypeSize("I64"), 8);
  EXPECT_EQ(DtypeSize("I32"), 4);
  EXPECT_EQ(DtypeSize("I16"), 2);
  EXPECT_EQ(DtypeSize("I8"), 1);
  EXPECT_EQ(DtypeSize("U8"), 1);
  EXPECT_EQ(DtypeSize("BOOL"), 1);
  EXPECT_FALSE(DtypeSize("f32").has_value());
  EXPECT_FALSE(DtypeSize("F8_E4M3").has_value());
  EXPECT_TRUE(IsFloatingDtype("BF16"));
  EXPECT_FALSE(IsFloatingDtype("I64"));
}

TEST_F(SafetensorsTest, ByteSizeRejectsOverflowAndNegativeDimensions) {
  EXPECT_EQ(*TensorByteSize("F32", {}), 4);  // a scalar.
  EXPECT_EQ(*TensorByteSize("F32", {2, 0, 3}), 0);
  EXPECT_THAT(TensorByteSize("F32", {int64_t{1} << 62}),
              StatusIs(absl::StatusCode::kInvalidArgument, "overflows int64 bytes"));
  EXPECT_THAT(TensorByteSize("U8", {int64_t{1} << 32, int64_t{1} << 32}),
              StatusIs(absl::StatusCode::kInvalidArgument, "overflows int64 elements"));
  EXPECT_THAT(TensorByteSize("F32", {2, -1}),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
  EXPECT_THAT(TensorByteSize("Q4", {2}),
              StatusIs(absl::StatusCode::kInvalidArgument, "unknown dtype 'Q4'"));
}

TEST_F(SafetensorsTest, ReadsAFileAsThePythonLibraryWritesIt) {
  auto file = OpenBytes(kReferenceFile);
  ASSERT_OK(file);
  EXPECT_THAT(file->metadata(), ElementsAre(Pair("format", "pt")));
  ASSERT_EQ(file->tensors().size(), 2u);
  const TensorInfo& bias = file->tensors().at("bias");
  EXPECT_EQ(bias.dtype, "F32");
  EXPECT_EQ(bias.shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(bias.begin, 0);
  EXPECT_EQ(bias.end, 8);
  const TensorInfo& weight = file->tensors().at("weight");
  EXPECT_EQ(weight.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(weight.begin, 8);
  EXPECT_EQ(weight.end, 24);
  EXPECT_EQ(file->data_offset(), 8 + 152);

  auto bias_bytes = file->ReadBytes("bias");
  ASSERT_OK(bias_bytes);
  EXPECT_EQ(*bias_bytes, F32Bytes({0.5f, -1.0f}));
  auto weight_bytes = file->ReadBytes("weight");
  ASSERT_OK(weight_bytes);
  EXPECT_EQ(*weight_bytes, F32Bytes({1, 2, 3, 4}));
  // The second row alone.
  auto row = file->ReadBytes("weight", 8, 8);
  ASSERT_OK(row);
  EXPECT_EQ(*row, F32Bytes({3, 4}));
}

TEST_F(SafetensorsTest, WriterProducesTheSameBytesAsThePythonLibrary) {
  SafetensorsWriter writer;
  writer.Add("weight", "F32", {2, 2}, F32Bytes({1, 2, 3, 4}));
  writer.Add("bias", "F32", {2}, F32Bytes({0.5f, -1.0f}));
  writer.SetMetadata("format", "pt");
  auto header = writer.BuildHeader();
  ASSERT_OK(header);
  EXPECT_EQ(*header, kReferenceHeader);
  const std::string path = dir_.File("w.safetensors");
  ASSERT_OK(writer.WriteAtomically(path));
  EXPECT_EQ(ReadFile(path), kReferenceFile);
}

TEST_F(SafetensorsTest, RoundTripKeepsTensorsMetadataAndOrder) {
  SafetensorsWriter writer;
  writer.Add("z.last", "I64", {2}, LittleEndian(7, 8) + LittleEndian(uint64_t{1} << 40, 8));
  writer.Add("a.first", "F32", {1, 3}, F32Bytes({1.5f, -2.25f, 3}));
  writer.Add("m.empty", "BF16", {0, 4}, "");
  writer.Add("m.scalar", "U8", {}, "\x2a");
  writer.AddLazy("m.lazy", "I16", {3}, []() -> absl::StatusOr<std::string> {
    return std::string("\x01\x00\x02\x00\xff\xff", 6);
  });
  writer.SetMetadata("vmae.kind", "pretrain");
  writer.SetMetadata("step", "100");
  const std::string path = dir_.File("rt.safetensors");
  ASSERT_OK(writer.WriteAtomically(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto file = SafetensorsFile::Open(path);
  ASSERT_OK(file);
  EXPECT_THAT(file->metadata(),
              UnorderedElementsAre(Pair("vmae.kind", "pretrain"), Pair("step", "100")));
  ASSERT_EQ(file->tensors().size(), 5u);
  // Data is laid out in name order.
  int64_t offset = 0;
  for (const auto& [name, info] : file->tensors()) {
    EXPECT_EQ(info.begin, offset) << name;
    offset = info.end;
  }
  EXPECT_EQ(file->tensors().at("m.empty").shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(file->tensors().at("m.scalar").shape, (std::vector<int64_t>{}));
  EXPECT_EQ(*file->ReadBytes("a.first"), F32Bytes({1.5f, -2.25f, 3}));
  EXPECT_EQ(*file->ReadBytes("z.last"), LittleEndian(7, 8) + LittleEndian(uint64_t{1} << 40, 8));
  EXPECT_EQ(*file->ReadBytes("m.empty"), "");
  EXPECT_EQ(*file->ReadBytes("m.scalar"), "\x2a");
  EXPECT_EQ(*file->ReadBytes("m.lazy"), std::string("\x01\x00\x02\x00\xff\xff", 6));
  // The header length is a multiple of 8 and the header starts with '{'.
  const std::string raw = ReadFile(path);
  EXPECT_EQ((file->data_offset() - 8) % 8, 0);
  EXPECT_EQ(raw[8], '{');
}

TEST_F(SafetensorsTest, ReadBytesRejectsUnknownNamesAndRangesOutsideTheTensor) {
  auto file = OpenBytes(kReferenceFile);
  ASSERT_OK(file);
  EXPECT_THAT(file->ReadBytes("nope"), StatusIs(absl::StatusCode::kNotFound, "'nope'"));
  EXPECT_THAT(file->ReadBytes("bias", 4, 8), StatusIs(absl::StatusCode::kOutOfRange, "bias"));
  EXPECT_THAT(file->ReadBytes("bias", -1, 2), StatusIs(absl::StatusCode::kOutOfRange, "bias"));
}

TEST_F(SafetensorsTest, ReadBytesReportsAFileShortenedAfterOpen) {
  const std::string path = dir_.File("shrink.safetensors");
  WriteFile(path, kReferenceFile);
  auto file = SafetensorsFile::Open(path);
  ASSERT_OK(file);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kReferenceFile.size() - 4)), 0);
  EXPECT_THAT(file->ReadBytes("weight"), StatusIs(absl::StatusCode::kDataLoss, "'weight'"));
  EXPECT_OK(file->ReadBytes("bias"));
}

TEST_F(SafetensorsTest, MovedFileStillReads) {
  auto opened = OpenBytes(kReferenceFile);
  ASSERT_OK(opened);
  SafetensorsFile file = std::move(opened).value();
  SafetensorsFile other = std::move(file);
  EXPECT_EQ(*other.ReadBytes("bias"), F32Bytes({0.5f, -1.0f}));
}

// ---- Hostile and broken files. Each is rejected with a clear error that
// names the file and, where one is at fault, the tensor. ----

TEST_F(SafetensorsTest, RejectsMissingFile) {
  EXPECT_THAT(SafetensorsFile::Open(dir_.File("missing.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, "missing.safetensors"));
}

TEST_F(SafetensorsTest, RejectsADirectory) {
  EXPECT_THAT(SafetensorsFile::Open(dir_.path()),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a regular file"));
}

TEST_F(SafetensorsTest, RejectsFileShorterThanTheLengthPrefix) {
  EXPECT_THAT(OpenBytes("\x10\x00\x00"), StatusIs(absl::StatusCode::kDataLoss, "too short"));
  EXPECT_THAT(OpenBytes(""), StatusIs(absl::StatusCode::kDataLoss, "t.safetensors"));
}

TEST_F(SafetensorsTest, RejectsTruncatedData) {
  const std::string cut = kReferenceFile.substr(0, kReferenceFile.size() - 4);
  EXPECT_THAT(OpenBytes(cut), StatusIs(absl::StatusCode::kDataLoss, "'weight'"));
  EXPECT_THAT(OpenBytes(cut), StatusIs(absl::StatusCode::kDataLoss, "truncated"));
}

TEST_F(SafetensorsTest, RejectsTruncatedHeader) {
  EXPECT_THAT(OpenBytes(kReferenceFile.substr(0, 100)),
              StatusIs(absl::StatusCode::kDataLoss, "runs past the end of the file"));
}

TEST_F(SafetensorsTest, RejectsHeaderLengthBeyondTheFile) {
  const std::string bytes = LittleEndian(1000, 8) + "{}";
  EXPECT_THAT(OpenBytes(bytes),
              StatusIs(absl::StatusCode::kDataLoss, "header length 1000 runs past the end"));
  // 2^64 - 1 must not wrap around.
  EXPECT_THAT(OpenBytes(std::string(8, '\xff') + "{}"),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds the limit"));
}

TEST_F(SafetensorsTest, RejectsHeaderLongerThanTheLimit) {
  const std::string bytes = LittleEndian((uint64_t{100} << 20) + 1, 8) + "{}";
  EXPECT_THAT(OpenBytes(bytes), StatusIs(absl::StatusCode::kInvalidArgument, "exceeds the limit"));
}

TEST_F(SafetensorsTest, RejectsOverlappingOffsets) {
  EXPECT_THAT(
      OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                 12),
      StatusIs(absl::StatusCode::kInvalidArgument, "'b': data_offsets [4, 12] overlap tensor 'a'"));
  // Two tensors sharing the same bytes.
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         8),
              StatusIs(absl::StatusCode::kInvalidArgument, "overlap"));
}

TEST_F(SafetensorsTest, RejectsGapsAndTrailingBytes) {
  EXPECT_THAT(
      OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})",
                 20),
      StatusIs(absl::StatusCode::kInvalidArgument, "'b': data_offsets [12, 20] leave a gap"));
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 9),
              StatusIs(absl::StatusCode::kDataLoss, "cover 8 bytes but the data section has 9"));
}

TEST_F(SafetensorsTest, RejectsOffsetsOutsideTheDataSection) {
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
              StatusIs(absl::StatusCode::kDataLoss, "'a': data_offsets [0, 16] run past the end"));
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8),
              StatusIs(absl::StatusCode::kInvalidArgument, "begin after end"));
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8),
              StatusIs(absl::StatusCode::kInvalidArgument, "are not non-negative integers"));
  EXPECT_THAT(
      OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551615]}})", 8),
      StatusIs(absl::StatusCode::kInvalidArgument, "are not non-negative integers"));
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a [begin, end] pair"));
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[2]}})", 8),
              StatusIs(absl::StatusCode::kInvalidArgument, "'a': missing \"data_offsets\""));
}

TEST_F(SafetensorsTest, RejectsSizeThatDoesNotMatchTheShape) {
  EXPECT_THAT(OpenHeader(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "'w': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"));
  EXPECT_THAT(OpenHeader(R"({"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}})", 16),
              StatusIs(absl::StatusCode::kInvalidArgument, "needs 8"));
}

TEST_F(SafetensorsTest, RejectsBadJson) {
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32",)", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "header is not valid JSON"));
  EXPECT_THAT(OpenHeader("[1, 2]", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "header is not a JSON object"));
  EXPECT_THAT(OpenHeader("", 0), StatusIs(absl::StatusCode::kInvalidArgument, "not valid JSON"));
  EXPECT_THAT(OpenHeader(std::string("{\"\xff\xfe\":1}"), 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "not valid JSON"));
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}})", 4),
              StatusIs(absl::StatusCode::kInvalidArgument, "t.safetensors"));
  EXPECT_THAT(OpenHeader(R"({"a":"F32"})", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "'a': header entry is not an object"));
}

TEST_F(SafetensorsTest, RejectsUnknownDtypeNamingIt) {
  EXPECT_THAT(OpenHeader(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "'w': unknown dtype 'F8_E4M3'"));
  EXPECT_THAT(OpenHeader(R"({"w":{"dtype":7,"shape":[2],"data_offsets":[0,2]}})", 2),
              StatusIs(absl::StatusCode::kInvalidArgument, "'w': missing or non-string \"dtype\""));
}

TEST_F(SafetensorsTest, RejectsShapeOverflow) {
  EXPECT_THAT(
      OpenHeader(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,0]}})",
                 0),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "'w': shape [4294967296, 4294967296, 4] overflows"));
  EXPECT_THAT(
      OpenHeader(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", 0),
      StatusIs(absl::StatusCode::kInvalidArgument, "overflows int64 bytes"));
  EXPECT_THAT(
      OpenHeader(R"({"w":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,0]}})", 0),
      StatusIs(absl::StatusCode::kInvalidArgument, "is not a non-negative integer"));
}

TEST_F(SafetensorsTest, RejectsMalformedShapes) {
  EXPECT_THAT(
      OpenHeader(R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,0]}})", 0),
      StatusIs(absl::StatusCode::kInvalidArgument, "shape entry -1 is not a non-negative integer"));
  EXPECT_THAT(OpenHeader(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,0]}})", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a non-negative integer"));
  EXPECT_THAT(OpenHeader(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,0]}})", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "non-array \"shape\""));
  std::string rank100 = R"({"w":{"dtype":"U8","shape":[1)";
  for (int i = 1; i < 100; ++i) {
    rank100 += ",1";
  }
  rank100 += R"(],"data_offsets":[0,1]}})";
  EXPECT_THAT(OpenHeader(rank100, 1), StatusIs(absl::StatusCode::kInvalidArgument, "more than 64"));
}

TEST_F(SafetensorsTest, RejectsDuplicateKeysAndDeepNesting) {
  EXPECT_THAT(OpenHeader(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         8),
              StatusIs(absl::StatusCode::kInvalidArgument, "duplicate key 'a'"));
  EXPECT_THAT(
      OpenHeader(R"({"a":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})", 4),
      StatusIs(absl::StatusCode::kInvalidArgument, "duplicate key 'dtype'"));
  std::string deep = R"({"a":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_THAT(OpenHeader(deep, 0), StatusIs(absl::StatusCode::kInvalidArgument, "nests deeper"));
}

TEST_F(SafetensorsTest, RejectsBadMetadata) {
  EXPECT_THAT(OpenHeader(R"({"__metadata__":{"step":100}})", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "value for 'step' is not a string"));
  EXPECT_THAT(OpenHeader(R"({"__metadata__":["a"]})", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, "\"__metadata__\" is not an object"));
}

TEST_F(SafetensorsTest, AcceptsAnEmptyFileAndPaddingSpaces) {
  auto empty = OpenHeader("{}      ", 0);
  ASSERT_OK(empty);
  EXPECT_THAT(empty->tensors(), IsEmpty());
  EXPECT_THAT(empty->metadata(), IsEmpty());
}

TEST_F(SafetensorsTest, ErrorMessagesEscapeHostileNames) {
  auto file = OpenHeader("{\"a\\nb'\":{\"dtype\":\"X\",\"shape\":[],\"data_offsets\":[0,0]}}", 0);
  EXPECT_THAT(file, StatusIs(absl::StatusCode::kInvalidArgument, "'a\\x0ab\\''"));
}

// ---- Writer errors. ----

TEST_F(SafetensorsTest, WriterRejectsBadTensorsAndLeavesTheTargetAlone) {
  const std::string path = dir_.File("keep.safetensors");
  WriteFile(path, "old contents");
  {
    SafetensorsWriter writer;
    writer.Add("w", "F32", {3}, F32Bytes({1, 2}));
    EXPECT_THAT(writer.WriteAtomically(path), StatusIs(absl::StatusCode::kInvalidArgument,
                                                       "'w': 8 bytes given but F32 [3] needs 12"));
  }
  {
    SafetensorsWriter writer;
    writer.Add("w", "F12", {1}, "ab");
    EXPECT_THAT(writer.WriteAtomically(path),
                StatusIs(absl::StatusCode::kInvalidArgument, "'w': unknown dtype 'F12'"));
  }
  {
    SafetensorsWriter writer;
    writer.Add("w", "U8", {1}, "a");
    writer.Add("w", "U8", {1}, "b");
    EXPECT_THAT(writer.WriteAtomically(path),
                StatusIs(absl::StatusCode::kInvalidArgument, "'w' added more than once"));
  }
  {
    SafetensorsWriter writer;
    writer.Add("__metadata__", "U8", {1}, "a");
    EXPECT_THAT(writer.WriteAtomically(path),
                StatusIs(absl::StatusCode::kInvalidArgument, "reserved"));
  }
  {
    SafetensorsWriter writer;
    writer.Add("bad\xff", "U8", {1}, "a");
    EXPECT_THAT(writer.WriteAtomically(path),
                StatusIs(absl::StatusCode::kInvalidArgument, "cannot encode the header"));
  }
  {
    SafetensorsWriter writer;
    writer.Add("a", "U8", {1}, "a");
    writer.AddLazy("b", "U8", {1}, []() -> absl::StatusOr<std::string> {
      return absl::DataLossError("source went away");
    });
    EXPECT_THAT(writer.WriteAtomically(path),
                StatusIs(absl::StatusCode::kDataLoss, "producing tensor 'b'"));
  }
  {
    SafetensorsWriter writer;
    writer.AddLazy("b", "U8", {2}, []() -> absl::StatusOr<std::string> { return "abc"; });
    EXPECT_THAT(writer.WriteAtomically(path),
                StatusIs(absl::StatusCode::kInternal, "producer returned 3 bytes, expected 2"));
  }
  EXPECT_EQ(ReadFile(path), "old contents");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(SafetensorsTest, WriterReportsAnUnwritableDirectory) {
  SafetensorsWriter writer;
  writer.Add("a", "U8", {1}, "a");
  EXPECT_THAT(writer.WriteAtomically(dir_.File("no/such/dir/x.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, "x.safetensors.tmp"));
}

TEST_F(SafetensorsTest, WriterReplacesAnExistingFile) {
  const std::string path = dir_.File("replace.safetensors");
  WriteFile(path, "old contents");
  SafetensorsWriter writer;
  writer.Add("a", "U8", {2}, "xy");
  ASSERT_OK(writer.WriteAtomically(path));
  auto file = SafetensorsFile::Open(path);
  ASSERT_OK(file);
  EXPECT_EQ(*file->ReadBytes("a"), "xy");
}

}  // namespace
}  // namespace vmae::checkpoint
