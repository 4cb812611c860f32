#include "worker/agent/devices.h"

#include <stdio.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace vmae::worker {

namespace {

constexpr int kMaxDevices = 1024;

int CountDevNvidia() {
  namespace fs = std::filesystem;
  std::error_code ec;
  int n = 0;
  for (auto it = fs::directory_iterator("/dev", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    absl::string_view rest = name;
    int idx = 0;
    if (absl::ConsumePrefix(&rest, "nvidia") && !rest.empty() && absl::SimpleAtoi(rest, &idx)) {
      ++n;
    }
  }
  return n;
}

std::vector<GpuInfo> QueryNvidiaSmi() {
  std::vector<GpuInfo> out;
  // nvidia-smi lists GPUs in PCI order, as CUDA does with
  // CUDA_DEVICE_ORDER=PCI_BUS_ID; best effort, for labels and DCGM joins only.
  FILE* p = popen(
      "nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits "
      "2>/dev/null",
      "r");
  if (p == nullptr) return out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p) != nullptr) {
    std::vector<std::string> f = absl::StrSplit(buf, ',');
    if (f.size() < 4) continue;
    GpuInfo g;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(f[0]), &g.index)) continue;
    g.uuid = std::string(absl::StripAsciiWhitespace(f[1]));
    g.name = std::string(absl::StripAsciiWhitespace(f[2]));
    int64_t mib = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(f[3]), &mib)) g.memory_bytes = mib << 20;
    out.push_back(g);
  }
  pclose(p);
  return out;
}

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "cpu";
}

int64_t MemTotalBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return 0;
}

}  // namespace

DeviceProbe SystemDeviceProbe() {
  DeviceProbe p;
  p.gpu_count = [] {
    const char* env = getenv("VMAE_GPU_COUNT");
    int n = 0;
    if (env != nullptr && absl::SimpleAtoi(env, &n) && n >= 0) return n;
    return CountDevNvidia();
  };
  p.gpu_details = QueryNvidiaSmi;
  p.cpu_name = CpuModelName;
  p.total_memory_bytes = MemTotalBytes;
  return p;
}

absl::StatusOr<std::vector<vmae::v1::Device>> ParseDevices(const std::string& flag,
                                                           const DeviceProbe& probe,
                                                           std::vector<int>* physical) {
  const std::string usage = " (expected cpu:N, cuda:all or cuda:I,J,...)";
  std::vector<std::string> kv = absl::StrSplit(flag, absl::MaxSplits(':', 1));
  if (kv.size() != 2 || kv[1].empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--devices '", flag, "' is malformed", usage));
  }
  const std::string kind = absl::AsciiStrToLower(kv[0]);
  std::vector<int> ids;
  if (kind == "cpu") {
    int n = 0;
    if (!absl::SimpleAtoi(kv[1], &n) || n < 1 || n > kMaxDevices) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--devices '", flag, "': the cpu slot count must be 1..", kMaxDevices, usage));
    }
    for (int i = 0; i < n; ++i) ids.push_back(i);
  } else if (kind == "cuda") {
    if (kv[1] == "all") {
      int n = probe.gpu_count ? probe.gpu_count() : 0;
      if (n <= 0) {
        return absl::FailedPreconditionError(
            "--devices cuda:all found no GPU (no /dev/nvidia[0-9]* and no $VMAE_GPU_COUNT); "
            "check the NVIDIA device plugin or use --devices cpu:N");
      }
      for (int i = 0; i < n && i < kMaxDevices; ++i) ids.push_back(i);
    } else {
      std::set<int> seen;
      for (absl::string_view part : absl::StrSplit(kv[1], ',')) {
        int id = -1;
        if (!absl::SimpleAtoi(part, &id) || id < 0 || id >= kMaxDevices) {
          return absl::InvalidArgumentError(
              absl::StrCat("--devices '", flag, "': '", part, "' is not a GPU index", usage));
        }
        if (!seen.insert(id).second) {
          return absl::InvalidArgumentError(
              absl::StrCat("--devices '", flag, "': GPU ", id, " is listed twice"));
        }
        ids.push_back(id);
      }
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--devices '", flag, "': unknown kind '", kv[0], "'", usage));
  }

  std::vector<GpuInfo> gpus;
  if (kind == "cuda" && probe.gpu_details) gpus = probe.gpu_details();
  std::string cpu_name = kind == "cpu" && probe.cpu_name ? probe.cpu_name() : "";
  int64_t mem = kind == "cpu" && probe.total_memory_bytes ? probe.total_memory_bytes() : 0;
  std::vector<vmae::v1::Device> out;
  if (physical) physical->clear();
  for (size_t slot = 0; slot < ids.size(); ++slot) {
    vmae::v1::Device d;
    d.set_kind(kind);
    d.set_index(static_cast<int>(slot));
    if (kind == "cpu") {
      d.set_name(cpu_name);
      d.set_memory_bytes(mem / static_cast<int64_t>(ids.size()));
    } else {
      for (const GpuInfo& g : gpus) {
        if (g.index == ids[slot]) {
          d.set_uuid(g.uuid);
          d.set_name(g.name);
          d.set_memory_bytes(g.memory_bytes);
        }
      }
    }
    out.push_back(d);
    if (physical) physical->push_back(ids[slot]);
  }
  return out;
}

}  // namespace vmae::worker
