// Batches become tensors without a copy, and keep their memory alive.
#include "worker/data/loader/batch_tensor.h"

#include <memory>
#include <utility>

#include "gtest/gtest.h"

namespace vmae::data {
namespace {

TEST(BatchTensorTest, ClipsShareTheBatchMemoryAndOutliveIt) {
  ClipRecipe recipe;
  recipe.num_frames = 2;
  recipe.image_size = 4;
  const size_t floats = 2 * 3 * 2 * 4 * 4;
  auto allocate = BatchAllocatorFor(at::Device(at::kCPU));
  HostBatch batch;
  batch.clips = allocate(floats);
  for (size_t i = 0; i < floats; ++i) batch.clips.get()[i] = static_cast<float>(i);
  batch.num_clips = 2;
  batch.num_videos = 1;
  batch.labels = {7, 7};
  batch.samples = {3, 3};
  batch.views = {0, 1};
  const float* memory = batch.clips.get();
  BatchTensors tensors = ToTensors(std::move(batch), recipe);
  EXPECT_EQ(tensors.clips.data_ptr<float>(), memory);  // no copy
  EXPECT_EQ(tensors.clips.sizes(), (at::IntArrayRef{2, 3, 2, 4, 4}));
  // Element [1, 2, 1, 3, 0] sits at ((((1*3)+2)*2+1)*4+3)*4+0 = 188.
  EXPECT_EQ(tensors.clips[1][2][1][3][0].item<float>(), 188.0f);
  EXPECT_EQ(tensors.labels.dtype(), at::kLong);
  EXPECT_EQ(tensors.labels[1].item<int64_t>(), 7);
  EXPECT_EQ(tensors.samples[0].item<int64_t>(), 3);
  EXPECT_EQ(tensors.views.dtype(), at::kInt);
  EXPECT_EQ(tensors.views[1].item<int32_t>(), 1);
}

}  // namespace
}  // namespace vmae::data
