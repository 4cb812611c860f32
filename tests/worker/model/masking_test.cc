#include "worker/model/masking.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <vector>

namespace vmae::model {
namespace {

TEST(MaskingTest, NumMaskedTruncatesLikePython) {
  EXPECT_EQ(NumMasked(196, 0.9), 176);  // 176.4
  EXPECT_EQ(NumMasked(1568, 0.9), 1411);
  EXPECT_EQ(NumMasked(196, 0.75), 147);
  EXPECT_EQ(NumMasked(4, 0.5), 2);
}

TEST(MaskingTest, TubeMaskHides176Of196InEverySliceAt16x224) {
  const torch::Tensor mask = TubeMask(8, 14, 14, 0.9, uint64_t{1});
  ASSERT_EQ(mask.sizes(), torch::IntArrayRef({1568}));
  ASSERT_EQ(mask.scalar_type(), torch::kBool);
  EXPECT_EQ(mask.sum().item<int64_t>(), 1408);
  const torch::Tensor slices = mask.view({8, 196});
  for (int64_t t = 0; t < 8; ++t) {
    EXPECT_EQ(slices[t].sum().item<int64_t>(), 176);
    EXPECT_TRUE(torch::equal(slices[t], slices[0])) << "slice " << t;
  }
}

TEST(MaskingTest, TubeMaskBatchHasEqualVisibleCountsAndDifferentTubes) {
  at::Generator gen = MakeGenerator(42);
  const torch::Tensor masks = MaskBatch(MaskType::kTube, 4, TokenGrid{8, 14, 14}, 0.9, gen);
  ASSERT_EQ(masks.sizes(), torch::IntArrayRef({4, 1568}));
  const torch::Tensor visible = (~masks).sum(1);
  for (int64_t b = 0; b < 4; ++b) {
    EXPECT_EQ(visible[b].item<int64_t>(), 160);
  }
  EXPECT_FALSE(torch::equal(masks[0], masks[1]));
}

TEST(MaskingTest, SameSeedSameMaskDifferentSeedDifferentMask) {
  EXPECT_TRUE(torch::equal(TubeMask(8, 14, 14, 0.9, uint64_t{5}),
                           TubeMask(8, 14, 14, 0.9, uint64_t{5})));
  EXPECT_FALSE(torch::equal(TubeMask(8, 14, 14, 0.9, uint64_t{5}),
                            TubeMask(8, 14, 14, 0.9, uint64_t{6})));
  EXPECT_TRUE(torch::equal(RandomMask(1568, 0.9, uint64_t{5}), RandomMask(1568, 0.9, uint64_t{5})));
}

TEST(MaskingTest, RandomMaskHasFixedCountNotTubes) {
  const torch::Tensor mask = RandomMask(1568, 0.9, uint64_t{3});
  EXPECT_EQ(mask.sum().item<int64_t>(), 1411);
  const torch::Tensor slices = mask.view({8, 196});
  bool all_equal = true;
  for (int64_t t = 1; t < 8; ++t) {
    all_equal = all_equal && torch::equal(slices[t], slices[0]);
  }
  EXPECT_FALSE(all_equal);
  at::Generator gen = MakeGenerator(9);
  const torch::Tensor batch = MaskBatch(MaskType::kRandom, 3, TokenGrid{8, 14, 14}, 0.9, gen);
  EXPECT_EQ(batch.sum(1)[0].item<int64_t>(), 1411);
  EXPECT_EQ(batch.sum(1)[2].item<int64_t>(), 1411);
}

// VideoMAE V2's generator written out: the 4 maps, one per start pointer.
std::vector<std::vector<int>> RunningCellMaps(int64_t t, int64_t h, int64_t w, int masks) {
  std::vector<std::vector<int>> maps;
  std::vector<int> queue(4, 0);
  for (int i = 0; i < masks; ++i) {
    queue[i] = 1;
  }
  for (int start = 0; start < 4; ++start) {
    int ptr = start;
    std::vector<int> map;
    for (int64_t f = 0; f < t; ++f) {
      ++ptr;  // run_cell
      int cell[4];
      for (int i = 0; i < 4; ++i) {
        cell[i] = queue[(i + ptr) % 4];  // get_cell
      }
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          map.push_back(cell[(y % 2) * 2 + (x % 2)]);  // np.tile of the 2x2 unit
        }
      }
    }
    maps.push_back(map);
  }
  return maps;
}

TEST(MaskingTest, RunningCellMatchesTheV2Generator) {
  const auto maps = RunningCellMaps(8, 14, 14, 2);
  std::set<int> seen;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const torch::Tensor mask = RunningCellDecoderMask(8, 14, 14, 0.5, seed);
    ASSERT_EQ(mask.sizes(), torch::IntArrayRef({1568}));
    EXPECT_EQ(mask.sum().item<int64_t>(), 784);
    const torch::Tensor as_int = mask.to(torch::kInt);
    auto acc = as_int.accessor<int, 1>();
    int match = -1;
    for (int m = 0; m < 4; ++m) {
      bool same = true;
      for (int64_t i = 0; i < 1568 && same; ++i) {
        same = acc[i] == maps[m][i];
      }
      if (same) {
        match = m;
      }
    }
    ASSERT_GE(match, 0) << "seed " << seed << " gave no V2 map";
    seen.insert(match);
  }
  EXPECT_EQ(seen.size(), 4u);  // every start pointer occurs
}

TEST(MaskingTest, RunningCellShiftsOnePositionPerSlice) {
  const torch::Tensor mask = RunningCellDecoderMask(4, 4, 4, 0.75, uint64_t{1});
  const torch::Tensor slices = mask.view({4, 4, 4});
  for (int64_t t = 0; t < 4; ++t) {
    // 3 of every 4 cell positions are dropped by the decoder.
    EXPECT_EQ(slices[t].sum().item<int64_t>(), 12);
    // The one kept position moves through the cell: it differs slice to slice.
    if (t > 0) {
      EXPECT_FALSE(torch::equal(slices[t], slices[t - 1]));
    }
  }
  EXPECT_THROW(RunningCellDecoderMask(2, 3, 4, 0.5, uint64_t{1}), c10::Error);  // odd h
  EXPECT_THROW(RunningCellDecoderMask(2, 4, 4, 0.1, uint64_t{1}), c10::Error);  // int(0.4) = 0
}

}  // namespace
}  // namespace vmae::model
