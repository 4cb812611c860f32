// Parses the agent's --devices flag into the slots it offers: cpu:N,
// cuda:all (every GPU of the node) or cuda:I,J,... One device = one slot =
// one rank.
#ifndef VMAE_WORKER_AGENT_DEVICES_H_
#define VMAE_WORKER_AGENT_DEVICES_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "vmae/v1/types.pb.h"

namespace vmae::worker {

// What the agent knows about one GPU (from nvidia-smi when present).
struct GpuInfo {
  int index = 0;  // CUDA/nvidia-smi index
  std::string uuid;
  std::string name;
  int64_t memory_bytes = 0;
};

// Where the GPUs of this node are found; injected so tests need no GPU.
struct DeviceProbe {
  // Number of GPUs: $VMAE_GPU_COUNT, else the /dev/nvidia[0-9]* count.
  std::function<int()> gpu_count;
  // Details of GPUs by index; may be empty (no nvidia-smi).
  std::function<std::vector<GpuInfo>()> gpu_details;
  // CPU model name and total memory, for cpu slots.
  std::function<std::string()> cpu_name;
  std::function<int64_t()> total_memory_bytes;
};

DeviceProbe SystemDeviceProbe();

// The offered slots. Device.index is the slot index (0..n-1); `physical`
// receives the device index a slot's trainer gets (--device cuda:<i>), which
// differs from the slot index for e.g. cuda:2,3.
absl::StatusOr<std::vector<vmae::v1::Device>> ParseDevices(const std::string& flag,
                                                           const DeviceProbe& probe,
                                                           std::vector<int>* physical);

}  // namespace vmae::worker

#endif  // VMAE_WORKER_AGENT_DEVICES_H_
