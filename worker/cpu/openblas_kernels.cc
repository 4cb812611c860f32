#include "worker/cpu/openblas_kernels.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vmae::cpu {
namespace {

// Set alongside OPENBLAS_CORETYPE so that a restarted process never restarts
// again, whatever the OpenBLAS build then reports.
constexpr char kRestartedEnv[] = "VMAE_OPENBLAS_RESTARTED";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool OneOf(const std::string& name, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](const char* candidate) { return name == candidate; });
}

// Looked up at run time: the BLAS behind LibTorch is whatever libblas.so.3
// the system's alternatives point at, and only OpenBLAS has these symbols.
template <typename Fn>
Fn FindBlasSymbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

CpuVectorFeatures DetectCpuVectorFeatures() {
  CpuVectorFeatures f;
#if defined(__x86_64__)
  __builtin_cpu_init();
  f.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return f;
}

std::optional<std::string> BetterOpenBlasCoreType(const std::string& corename,
                                                  const CpuVectorFeatures& cpu) {
  const std::string core = Lower(corename);
  // OpenBLAS's names for its AVX-512 kernel sets (0.3.x).
  const bool avx512_kernels = OneOf(core, {"skylakex", "cooperlake", "sapphirerapids"});
  if (cpu.avx512) {
    if (avx512_kernels) return std::nullopt;
    return std::string("SkylakeX");
  }
  if (cpu.avx2_fma) {
    if (avx512_kernels || OneOf(core, {"haswell", "zen"})) return std::nullopt;
    return std::string("Haswell");
  }
  return std::nullopt;
}

std::optional<std::string> LoadedOpenBlasCoreName() {
  using CoreNameFn = char* (*)();
  const auto get_corename = FindBlasSymbol<CoreNameFn>("openblas_get_corename");
  if (get_corename == nullptr) return std::nullopt;
  const char* name = get_corename();
  return std::string(name == nullptr ? "" : name);
}

void RestartWithFittingOpenBlasKernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || std::getenv(kRestartedEnv) != nullptr) {
    return;
  }
  const std::optional<std::string> core = LoadedOpenBlasCoreName();
  if (!core.has_value()) return;
  const std::optional<std::string> better = BetterOpenBlasCoreType(*core, DetectCpuVectorFeatures());
  if (!better.has_value()) return;
  setenv("OPENBLAS_CORETYPE", better->c_str(), /*overwrite=*/1);
  setenv(kRestartedEnv, "1", /*overwrite=*/1);
  // Silent when it works (`vmae version` and `vmae bench` name the kernels):
  // the restart is invisible to callers, same pid, same arguments.
  std::fflush(nullptr);
  execv("/proc/self/exe", argv);
  // Still here: run on with the slow kernels rather than not at all.
  std::fprintf(stderr,
               "vmae: OpenBLAS chose its %s kernels, older than this CPU, and restarting with "
               "OPENBLAS_CORETYPE=%s failed (%s); going on, matrix products will be slow. Set "
               "OPENBLAS_CORETYPE=%s in the environment to avoid this.\n",
               core->c_str(), better->c_str(), std::strerror(errno), better->c_str());
}

std::string DescribeBlas() {
  using ConfigFn = char* (*)();
  using IntFn = int (*)();
  const auto get_config = FindBlasSymbol<ConfigFn>("openblas_get_config");
  const std::optional<std::string> core = LoadedOpenBlasCoreName();
  if (get_config == nullptr || !core.has_value()) return "BLAS: not OpenBLAS";
  const auto get_parallel = FindBlasSymbol<IntFn>("openblas_get_parallel");
  const int parallel = get_parallel == nullptr ? -1 : get_parallel();
  const char* threading = parallel == 0   ? "single-threaded"
                          : parallel == 1 ? "pthreads"
                          : parallel == 2 ? "OpenMP"
                                          : "unknown threading";
  std::string config = get_config();
  // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64": keep the version.
  const size_t second_space = config.find(' ', config.find(' ') + 1);
  if (second_space != std::string::npos) config.resize(second_space);
  return config + " (" + *core + " kernels, " + threading + ")";
}

}  // namespace vmae::cpu
