#include "worker/data/loader/batch_tensor.h"

#include <utility>
#include <vector>

namespace vmae::data {
namespace {

template <typename T>
at::Tensor VectorTensor(const std::vector<T>& values, at::ScalarType type) {
  return at::from_blob(const_cast<T*>(values.data()), {static_cast<int64_t>(values.size())},
                       at::TensorOptions().dtype(type))
      .clone();
}

}  // namespace

BatchTensors ToTensors(HostBatch batch, const ClipRecipe& recipe) {
  BatchTensors out;
  std::shared_ptr<float> memory = batch.clips;
  // The tensor keeps the batch's memory alive through its deleter.
  out.clips = at::from_blob(
      memory.get(), {batch.num_clips, 3, recipe.num_frames, recipe.image_size, recipe.image_size},
      [memory](void*) mutable { memory.reset(); }, at::TensorOptions().dtype(at::kFloat));
  out.labels = VectorTensor(batch.labels, at::kLong);
  out.samples = VectorTensor(batch.samples, at::kLong);
  out.views = VectorTensor(batch.views, at::kInt);
  return out;
}

std::function<std::shared_ptr<float>(size_t)> BatchAllocatorFor(const at::Device& device) {
  const bool pinned = device.is_cuda();
  return [pinned](size_t floats) {
    at::Tensor storage = at::empty({static_cast<int64_t>(floats)},
                                   at::TensorOptions().dtype(at::kFloat).pinned_memory(pinned));
    float* data = storage.data_ptr<float>();
    return std::shared_ptr<float>(data, [storage](float*) mutable { storage.reset(); });
  };
}

}  // namespace vmae::data
