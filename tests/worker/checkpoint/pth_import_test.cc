#include "worker/checkpoint/pth_import.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/checkpoint/test_util.h"

namespace vmae::checkpoint {
namespace {

using pth_testing::Fixture;
using pth_testing::Floats;
using pth_testing::Longs;
using pth_testing::RawF32;
using pth_testing::RawI64;
using pth_testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Keys(const std::map<std::string, at::Tensor>& m) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : m) {
    keys.push_back(k);
  }
  return keys;
}

TEST(PthImportTest, LoadsPlainDictOfTensors) {
  VMAE_REQUIRE_FIXTURES();
  for (const char* file : {"plain.pth", "proto4.pth"}) {
    SCOPED_TRACE(file);
    absl::StatusOr<std::map<std::string, at::Tensor>> sd =
        LoadStateDictFromPth(Fixture(file), ImportOptions());
    ASSERT_OK(sd);
    EXPECT_THAT(Keys(*sd), ElementsAre("a", "b", "c", "empty"));
    const at::Tensor& a = sd->at("a");
    EXPECT_EQ(a.scalar_type(), at::kFloat);
    EXPECT_EQ(a.sizes(), at::IntArrayRef({2, 3}));
    EXPECT_THAT(Floats(a), ElementsAreArray(RawF32("plain.a")));
    EXPECT_EQ(sd->at("b").scalar_type(), at::kLong);
    EXPECT_THAT(Longs(sd->at("b")), ElementsAreArray(RawI64("plain.b")));
    EXPECT_EQ(sd->at("c").dim(), 0);
    EXPECT_EQ(sd->at("c").item<float>(), 7.5f);
    EXPECT_EQ(sd->at("empty").sizes(), at::IntArrayRef({0, 4}));
  }
}

TEST(PthImportTest, LoadsModuleStateDictWithMetadata) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<ImportResult> r = ImportPth(Fixture("state_dict.pth"));
  ASSERT_OK(r);
  EXPECT_EQ(r->weights_key, "");
  EXPECT_TRUE(r->other_entries.empty());
  EXPECT_THAT(Keys(r->tensors), ElementsAre("bn.bias", "bn.num_batches_tracked", "bn.running_mean",
                                            "bn.running_var", "bn.weight", "norm.bias",
                                            "norm.weight", "pos", "proj.bias", "proj.weight"));
  for (const auto& [name, t] : r->tensors) {
    SCOPED_TRACE(name);
    if (t.scalar_type() == at::kLong) {
      EXPECT_THAT(Longs(t), ElementsAreArray(RawI64("sd." + name)));
    } else {
      EXPECT_EQ(t.scalar_type(), at::kFloat);
      EXPECT_THAT(Floats(t), ElementsAreArray(RawF32("sd." + name)));
    }
  }
  EXPECT_EQ(r->tensors.at("proj.weight").sizes(), at::IntArrayRef({4, 3}));
  EXPECT_EQ(r->tensors.at("bn.num_batches_tracked").dim(), 0);
}

TEST(PthImportTest, LoadsTrainingCheckpointWithOpaqueEntries) {
  VMAE_REQUIRE_FIXTURES();
  const std::string path = Fixture("train.pth");
  absl::StatusOr<PickleValue> root = LoadPth(path);
  ASSERT_OK(root);
  const PickleDict& d = root->as_dict();
  EXPECT_EQ(d.Find("epoch")->as_int(), 3);
  EXPECT_EQ(d.Find("scaler")->as_dict().Find("scale")->as_float(), 65536.0);

  // args: an argparse.Namespace placeholder with its attributes as state.
  const PickleOpaque& args = d.Find("args")->as_opaque();
  EXPECT_EQ(args.module, "argparse");
  EXPECT_EQ(args.name, "Namespace");
  const PickleDict& attrs = args.state.as_dict();
  EXPECT_EQ(attrs.Find("lr")->as_float(), 1e-3);
  EXPECT_EQ(attrs.Find("name")->as_string(), "x");
  EXPECT_EQ(attrs.Find("seed")->TypeName(), "opaque builtins.int object");  // 2**70
  EXPECT_EQ(attrs.Find("ratio")->TypeName(), "opaque numpy.core.multiarray.scalar object");
  EXPECT_EQ(attrs.Find("frames")->TypeName(), "opaque numpy.core.multiarray._reconstruct object");
  EXPECT_EQ(attrs.Find("tags")->TypeName(), "opaque builtins.set object");
  EXPECT_EQ(attrs.Find("raw")->as_bytes(), std::string("\x00\xff"
                                                       "ab",
                                                       4));

  // The optimizer state: tensors keyed by int parameter ids.
  const PickleDict& opt = d.Find("optimizer")->as_dict();
  const PickleDict& state = opt.Find("state")->as_dict();
  ASSERT_NE(state.Find(int64_t{0}), nullptr);
  EXPECT_TRUE(state.Find(int64_t{0})->as_dict().Find("exp_avg")->is_tensor());
  const PickleValue& group = opt.Find("param_groups")->as_list().at(0);
  EXPECT_EQ(group.as_dict().Find("lr")->as_float(), 1e-3);

  absl::StatusOr<ImportResult> r = ImportPth(path);
  ASSERT_OK(r);
  EXPECT_EQ(r->weights_key, "model");
  EXPECT_THAT(r->other_entries, ElementsAre("optimizer", "epoch", "args", "scaler"));
  EXPECT_TRUE(r->dropped.empty());
  ASSERT_EQ(r->tensors.size(), 10u);
  for (const auto& [name, t] : r->tensors) {
    SCOPED_TRACE(name);
    if (t.scalar_type() == at::kLong) {
      EXPECT_THAT(Longs(t), ElementsAreArray(RawI64("ckpt." + name)));
    } else {
      EXPECT_THAT(Floats(t), ElementsAreArray(RawF32("ckpt." + name)));
    }
  }
}

TEST(PthImportTest, LoadsWeightsUnderModule) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<ImportResult> r = ImportPth(Fixture("module.pth"));
  ASSERT_OK(r);
  EXPECT_EQ(r->weights_key, "module");
  EXPECT_THAT(r->other_entries, ElementsAre("epoch"));
  EXPECT_THAT(Floats(r->tensors.at("proj.weight")), ElementsAreArray(RawF32("ckpt.proj.weight")));
}

TEST(PthImportTest, LoadsNestedContainers) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<PickleValue> root = LoadPth(Fixture("nested.pth"));
  ASSERT_OK(root);
  const PickleDict& d = root->as_dict();
  const at::Tensor& t = d.Find("outer")->as_dict().Find("inner")->as_dict().Find("t")->as_tensor();
  EXPECT_THAT(Floats(t), ElementsAre(3, 3, 3, 3));
  const std::vector<PickleValue>& list = d.Find("list")->as_list();
  ASSERT_EQ(list.size(), 4u);
  EXPECT_THAT(Floats(list[0].as_tensor()), ElementsAre(0, 1, 2));
  EXPECT_EQ(list[1].as_int(), 1);
  EXPECT_EQ(list[2].as_string(), "two");
  EXPECT_TRUE(list[3].is_none());
  const std::vector<PickleValue>& tuple = d.Find("tuple")->as_tuple();
  ASSERT_EQ(tuple.size(), 7u);
  EXPECT_EQ(tuple[0].as_float(), 1.5);
  EXPECT_EQ(tuple[1].as_int(), -7);
  EXPECT_TRUE(tuple[2].as_bool());
  EXPECT_FALSE(tuple[3].as_bool());
  EXPECT_EQ(tuple[4].as_int(), -(int64_t{1} << 40));
  EXPECT_EQ(tuple[5].as_bytes(), "bytes");
  EXPECT_EQ(tuple[6].as_string(), "text");
  EXPECT_EQ(d.Find(int64_t{7})->as_string(), "int key");
  // Not a flat dict of tensors: the import names the offending entry.
  EXPECT_THAT(ImportPth(Fixture("nested.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument, "'outer'"));
}

TEST(PthImportTest, LoadsHalfAndBFloat16) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<std::map<std::string, at::Tensor>> sd =
      LoadStateDictFromPth(Fixture("halves.pth"), ImportOptions());
  ASSERT_OK(sd);
  EXPECT_EQ(sd->at("h").scalar_type(), at::kHalf);
  EXPECT_EQ(sd->at("h").sizes(), at::IntArrayRef({3, 5}));
  EXPECT_THAT(Floats(sd->at("h")), ElementsAreArray(RawF32("halves.h")));
  EXPECT_EQ(sd->at("bf").scalar_type(), at::kBFloat16);
  EXPECT_THAT(Floats(sd->at("bf")), ElementsAreArray(RawF32("halves.bf")));
  EXPECT_EQ(sd->at("flag").scalar_type(), at::kBool);
  EXPECT_THAT(Longs(sd->at("flag")), ElementsAre(1, 0, 1));
}

TEST(PthImportTest, ViewsKeepStridesAndShareStorage) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<std::map<std::string, at::Tensor>> sd =
      LoadStateDictFromPth(Fixture("views.pth"), ImportOptions());
  ASSERT_OK(sd);
  for (const auto& [name, t] : *sd) {
    SCOPED_TRACE(name);
    EXPECT_THAT(Floats(t), ElementsAreArray(RawF32("views." + name)));
  }
  const at::Tensor& t = sd->at("t");
  EXPECT_EQ(t.sizes(), at::IntArrayRef({6, 4}));
  EXPECT_EQ(t.strides(), at::IntArrayRef({1, 6}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(sd->at("row").storage_offset(), 6);
  EXPECT_EQ(sd->at("block").storage_offset(), 13);
  EXPECT_EQ(sd->at("expand").strides(), at::IntArrayRef({0, 0}));
  // One storage behind the transpose, the slices and both tied names.
  const void* data = sd->at("tied_a").storage().data();
  for (const char* name : {"t", "row", "block", "tied_b"}) {
    EXPECT_EQ(sd->at(name).storage().data(), data) << name;
  }
  EXPECT_EQ(sd->at("tied_a").storage().nbytes(), 24 * sizeof(float));
}

TEST(PthImportTest, FinetuningOptionsStripAndDropPretrainNames) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<ImportResult> r =
      ImportPth(Fixture("pretrain.pth"), ImportOptions::ForFinetuning());
  ASSERT_OK(r);
  EXPECT_THAT(Keys(r->tensors), ElementsAre("blocks.0.attn.q_bias", "blocks.0.attn.qkv.weight",
                                            "blocks.0.norm1.weight", "patch_embed.proj.bias",
                                            "patch_embed.proj.weight"));
  // The script filled entry i with i.
  EXPECT_THAT(Floats(r->tensors.at("patch_embed.proj.weight")), ElementsAre(0, 0));
  EXPECT_THAT(Floats(r->tensors.at("blocks.0.attn.q_bias")), ElementsAre(4, 4));
  EXPECT_THAT(r->dropped,
              ElementsAre("encoder.norm.weight", "encoder.norm.bias",
                          "decoder.blocks.0.norm1.weight", "decoder.norm.weight",
                          "decoder.head.weight", "encoder_to_decoder.weight", "mask_token"));
  EXPECT_EQ(r->renamed.size(), 5u);

  // Only stripping: everything kept, the pre-training names without "encoder.".
  ImportOptions strip;
  strip.strip_prefixes = {"encoder."};
  r = ImportPth(Fixture("pretrain.pth"), strip);
  ASSERT_OK(r);
  EXPECT_EQ(r->tensors.size(), 12u);
  EXPECT_EQ(r->tensors.count("norm.weight"), 1u);
  EXPECT_EQ(r->tensors.count("decoder.norm.weight"), 1u);
  EXPECT_EQ(r->tensors.count("encoder_to_decoder.weight"), 1u);
}

TEST(PthImportTest, StripClashIsAnError) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(ImportPth(Fixture("clash.pth"), ImportOptions::ForFinetuning()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "'backbone.blocks.0.mlp.fc1.weight' and 'blocks.0.mlp.fc1.weight' both "
                       "become 'blocks.0.mlp.fc1.weight'"));
}

TEST(PthImportTest, NonTensorWeightEntryIsNamed) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(ImportPth(Fixture("non_tensor.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "weights entry 'step' in 'model' is a int (5), not a tensor"));
  // Dropping it is the way around.
  ImportOptions opt;
  opt.drop_prefixes = {"step"};
  absl::StatusOr<ImportResult> r = ImportPth(Fixture("non_tensor.pth"), opt);
  ASSERT_OK(r);
  EXPECT_THAT(Keys(r->tensors), ElementsAre("w"));
  EXPECT_THAT(r->dropped, ElementsAre("step"));
}

TEST(PthImportTest, BareTensorIsNotAStateDict) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<PickleValue> root = LoadPth(Fixture("bare_tensor.pth"));
  ASSERT_OK(root);
  EXPECT_THAT(Floats(root->as_tensor()), ElementsAre(1, 1, 1));
  EXPECT_THAT(ImportPth(Fixture("bare_tensor.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument, "checkpoint is a tensor, not a dict"));
}

TEST(PthImportTest, OsSystemGlobalIsNeverExecuted) {
  VMAE_REQUIRE_FIXTURES();
  const std::string marker = Fixture("pwned");
  ASSERT_FALSE(std::filesystem::exists(marker));
  absl::StatusOr<PickleValue> root = LoadPth(Fixture("os_system.pth"));
  ASSERT_OK(root);
  EXPECT_EQ(root->as_dict().Find("model")->TypeName(), "opaque os.system object");
  EXPECT_EQ(root->as_dict().Find("epoch")->as_int(), 1);
  EXPECT_THAT(ImportPth(Fixture("os_system.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "weights 'model' are a opaque os.system object"));
  // No `model` key: the top-level dict is the weights, and `w` is named.
  EXPECT_THAT(ImportPth(Fixture("os_system_weights.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "weights entry 'w' in the top-level dict is a opaque posix.system object"));
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(PthImportTest, MissingFileIsNotFound) {
  pth_testing::TempDir dir;
  EXPECT_THAT(LoadPth(dir.File("nope.pth")),
              StatusIs(absl::StatusCode::kNotFound, dir.File("nope.pth")));
  EXPECT_THAT(LoadPth(dir.path()), StatusIs(absl::StatusCode::kInvalidArgument, "regular file"));
}

TEST(PthImportTest, NotAZipIsDataLoss) {
  pth_testing::TempDir dir;
  const std::string path = dir.File("text.pth");
  pth_testing::WriteBytes(path, "this is not a checkpoint\n");
  EXPECT_THAT(LoadPth(path), StatusIs(absl::StatusCode::kDataLoss, path + ": not a valid zip"));
  pth_testing::WriteBytes(path, "");
  EXPECT_THAT(LoadPth(path), StatusIs(absl::StatusCode::kDataLoss, "too short"));
  pth_testing::WriteBytes(path, std::string(100000, '\0'));
  EXPECT_THAT(LoadPth(path), StatusIs(absl::StatusCode::kDataLoss, "no end of central"));
}

TEST(PthImportTest, LegacyFormatIsDataLoss) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(LoadPth(Fixture("legacy.pth")),
              StatusIs(absl::StatusCode::kDataLoss, "not a valid zip"));
}

TEST(PthImportTest, TruncatedFilesAreRejected) {
  VMAE_REQUIRE_FIXTURES();
  const std::string good = pth_testing::ReadBytes(Fixture("train.pth"));
  pth_testing::TempDir dir;
  const std::string path = dir.File("cut.pth");
  for (size_t len = 0; len < good.size(); len += 1 + good.size() / 64) {
    pth_testing::WriteBytes(path, good.substr(0, len));
    absl::StatusOr<PickleValue> v = LoadPth(path);
    ASSERT_FALSE(v.ok()) << len;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << len << ": " << v.status();
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(path));
  }
}

TEST(PthImportTest, ZipWithoutPickleIsDataLoss) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(LoadPth(Fixture("no_pickle.pth")),
              StatusIs(absl::StatusCode::kDataLoss, "no data.pkl record"));
}

TEST(PthImportTest, UnknownOpcodeInFileNamesByteAndOffset) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(LoadPth(Fixture("unknown_op.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       Fixture("unknown_op.pth") + ": pickle offset 3: unknown opcode 0xff"));
}

TEST(PthImportTest, TensorLargerThanStorageIsRejected) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(LoadPth(Fixture("too_big_view.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument, "tensor exceeds its storage: [10]"));
  absl::StatusOr<std::map<std::string, at::Tensor>> sd =
      LoadStateDictFromPth(Fixture("offset_view.pth"), ImportOptions());
  ASSERT_OK(sd);
  EXPECT_THAT(Floats(sd->at("w")), ElementsAre(2, 3, 3, 4));
}

TEST(PthImportTest, StorageRecordProblemsAreDataLoss) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(LoadPth(Fixture("short_record.pth")),
              StatusIs(absl::StatusCode::kDataLoss,
                       "storage record 'data/0' has 16 bytes; 1000 Float elements need 4000"));
  EXPECT_THAT(LoadPth(Fixture("missing_record.pth")),
              StatusIs(absl::StatusCode::kDataLoss, "storage record 'data/9' is missing"));
}

TEST(PthImportTest, ArchiveFolderNameMayDiffer) {
  VMAE_REQUIRE_FIXTURES();
  absl::StatusOr<std::map<std::string, at::Tensor>> sd =
      LoadStateDictFromPth(Fixture("other_folder.pth"), ImportOptions());
  ASSERT_OK(sd);
  EXPECT_THAT(Floats(sd->at("w")), ElementsAre(2, 3, 4));
}

TEST(PthImportTest, DeflatedRecordLargerThanFileIsRefused) {
  VMAE_REQUIRE_FIXTURES();
  EXPECT_THAT(LoadPth(Fixture("bomb.pth")),
              StatusIs(absl::StatusCode::kInvalidArgument, "records expand beyond the file"));
}

TEST(PthImportTest, FileAndPickleLimitsApply) {
  VMAE_REQUIRE_FIXTURES();
  PickleLimits limits;
  limits.max_file_bytes = 1000;
  EXPECT_THAT(LoadPth(Fixture("train.pth"), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "exceeds the limit of 1000"));
  limits = PickleLimits();
  limits.max_pickle_bytes = 100;
  EXPECT_THAT(LoadPth(Fixture("train.pth"), limits),
              StatusIs(absl::StatusCode::kInvalidArgument, "data.pkl' of"));
}

// Mutated files: LibTorch's zip reader and ours must come back with a status
// every time. Deterministic (fixed seed).
TEST(PthImportTest, FuzzMutatedFilesNeverCrash) {
  VMAE_REQUIRE_FIXTURES();
  pth_testing::TempDir dir;
  const std::string path = dir.File("fuzz.pth");
  std::mt19937_64 rng(7);
  int ok = 0;
  int failed = 0;
  for (const char* seed_file : {"plain.pth", "views.pth"}) {
    const std::string seed = pth_testing::ReadBytes(Fixture(seed_file));
    for (int i = 0; i < 300; ++i) {
      std::string s = seed;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        const size_t at = rng() % s.size();
        switch (rng() % 4) {
          case 0:
            s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
            break;
          case 1:
            s[at] = static_cast<char>(rng());
            break;
          case 2:  // 0xff runs: saturated sizes, offsets and counts.
            s.replace(at, std::min<size_t>(4, s.size() - at), std::string(4, '\xff'));
            break;
          case 3:  // Somewhere in the last 100 bytes: the zip directories.
            s[s.size() - 1 - rng() % std::min<size_t>(100, s.size())] = static_cast<char>(rng());
            break;
        }
      }
      pth_testing::WriteBytes(path, s);
      absl::StatusOr<ImportResult> r = ImportPth(path);
      if (r.ok()) {
        ++ok;
      } else {
        ++failed;
        EXPECT_THAT(std::string(r.status().message()), HasSubstr(path));
      }
    }
  }
  EXPECT_GT(failed, 0);
  std::printf("file fuzz: %d loaded, %d rejected\n", ok, failed);
}

}  // namespace
}  // namespace vmae::checkpoint
