// The loader's batches as LibTorch tensors, without copying: the tensors
// share the batch's memory. On CUDA the loader writes into pinned host
// memory, so the copy to the GPU can run asynchronously.
#ifndef VMAE_WORKER_DATA_LOADER_BATCH_TENSOR_H_
#define VMAE_WORKER_DATA_LOADER_BATCH_TENSOR_H_

#include <ATen/ATen.h>

#include <cstddef>
#include <functional>
#include <memory>

#include "worker/data/loader/clip_loader.h"

namespace vmae::data {

struct BatchTensors {
  at::Tensor clips;    // float [clips, 3, T, S, S]
  at::Tensor labels;   // int64 [clips]
  at::Tensor samples;  // int64 [clips]
  at::Tensor views;    // int32 [clips]
};

BatchTensors ToTensors(HostBatch batch, const ClipRecipe& recipe);

// An allocator for LoaderOptions::allocate: pinned host memory when
// `device` is CUDA, else ordinary memory.
std::function<std::shared_ptr<float>(size_t)> BatchAllocatorFor(const at::Device& device);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_BATCH_TENSOR_H_
