// libFuzzer entry point for the pickle reader (built with
// -DVMAE_BUILD_FUZZERS=ON under clang). Storages are zero-filled fakes of at
// most 1 MiB; the reader must return a status for every input.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "worker/checkpoint/pickle_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool kInit = [] {
    at::set_num_threads(1);
    return true;
  }();
  (void)kInit;
  vmae::checkpoint::StorageLoader loader = [](const std::string& key, c10::ScalarType dtype,
                                              int64_t numel) -> absl::StatusOr<c10::Storage> {
    if (numel > (int64_t{1} << 20) / static_cast<int64_t>(c10::elementSize(dtype))) {
      return absl::InvalidArgumentError("storage too large for the fuzzer");
    }
    return at::zeros({numel}, at::TensorOptions().dtype(dtype)).storage();
  };
  vmae::checkpoint::PickleLimits limits;
  limits.max_items = 1'000'000;
  limits.max_stack = 1'000'000;
  absl::StatusOr<vmae::checkpoint::PickleValue> v = vmae::checkpoint::ParsePickle(
      absl::string_view(reinterpret_cast<const char*>(data), size), loader, limits, "fuzz");
  if (v.ok()) {
    (void)v->DebugString(8);
  }
  return 0;
}
