// OpenBLAS picks its matrix kernels from the CPU's family and model numbers.
// A CPU newer than the OpenBLAS build (Debian 12 ships 0.3.21; an Emerald
// Rapids Xeon reports model 207) falls back to its oldest x86-64 kernels,
// "Prescott" (SSE3), which run single-precision GEMM about 5x slower than the
// AVX-512 ones the same CPU supports. OpenBLAS reads OPENBLAS_CORETYPE once,
// while it is loaded (before main), so the fix is to set it and restart the
// process.
#ifndef VMAE_WORKER_CPU_OPENBLAS_KERNELS_H_
#define VMAE_WORKER_CPU_OPENBLAS_KERNELS_H_

#include <optional>
#include <string>

namespace vmae::cpu {

/// What the CPU can run, as far as OpenBLAS's x86-64 kernels care.
struct CpuVectorFeatures {
  bool avx512 = false;   // avx512f, avx512bw, avx512dq and avx512vl (SkylakeX kernels)
  bool avx2_fma = false; // avx2 and fma (Haswell kernels)
};

/// The features of the CPU this process runs on.
CpuVectorFeatures DetectCpuVectorFeatures();

/// The OPENBLAS_CORETYPE to restart with when `corename` (what
/// openblas_get_corename() returned, any case) leaves vector units unused:
/// "SkylakeX" on an AVX-512 CPU whose kernels are not AVX-512 ones, "Haswell"
/// on an AVX2 + FMA CPU whose kernels predate AVX2; nullopt when the kernels
/// already fit or the CPU has neither.
std::optional<std::string> BetterOpenBlasCoreType(const std::string& corename,
                                                  const CpuVectorFeatures& cpu);

/// The name of the kernels the loaded OpenBLAS uses ("SkylakeX", "Prescott"),
/// or nullopt when the BLAS in this process is not OpenBLAS.
std::optional<std::string> LoadedOpenBlasCoreName();

/// Call in main() before any LibTorch work. When the loaded OpenBLAS runs kernels older than
/// the CPU and OPENBLAS_CORETYPE is unset, sets it and re-executes this
/// program with the same arguments, silently; returns only when nothing
/// needs to change or the restart failed (then one line on stderr says
/// so). A user's own OPENBLAS_CORETYPE is always kept.
void RestartWithFittingOpenBlasKernels(char** argv);

/// One line for `version` and `bench` output:
/// "OpenBLAS 0.3.21 (SkylakeX kernels, OpenMP)", or "BLAS: not OpenBLAS".
std::string DescribeBlas();

}  // namespace vmae::cpu

#endif  // VMAE_WORKER_CPU_OPENBLAS_KERNELS_H_
