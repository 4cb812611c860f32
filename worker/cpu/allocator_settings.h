// glibc malloc settings for a training process. A train step allocates and
// frees the same large activations every iteration; by default glibc serves
// blocks above its mmap threshold (128 KiB, rising to at most 32 MiB) with
// fresh mmap()s and trims the heap top on free, so every step faults its
// working set in again from the kernel (about 350,000 page faults per ViT-S
// pre-training step at 16x224: ~10% of the step on 2 cores). Keeping freed
// memory mapped makes later steps reuse it, as PyTorch's CUDA caching
// allocator does on the GPU.
#ifndef VMAE_WORKER_CPU_ALLOCATOR_SETTINGS_H_
#define VMAE_WORKER_CPU_ALLOCATOR_SETTINGS_H_

namespace vmae::cpu {

/// Raises glibc's mmap threshold to its maximum (32 MiB on 64-bit) and stops
/// heap trimming, so the process keeps its peak heap for reuse. Call once,
/// early in main(), before the model allocates. Returns false when malloc refused a setting (a non-glibc
/// allocator), which is harmless.
bool KeepFreedMemoryForReuse();

}  // namespace vmae::cpu

#endif  // VMAE_WORKER_CPU_ALLOCATOR_SETTINGS_H_
