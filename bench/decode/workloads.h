// The five decode workloads of docs/video-decoding.md ("Honest benchmark
// protocol"): which frames and crops each clip takes, drawn with the
// training code's own sampling and crop functions, so the benchmark decodes
// what training decodes.
#ifndef VMAE_BENCH_DECODE_WORKLOADS_H_
#define VMAE_BENCH_DECODE_WORKLOADS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/decode/decode_plan.h"

namespace vmae::bench {

enum class Workload {
  kKineticsPretrain,  // 16 frames, stride 4, MultiScaleCrop
  kSsv2Pretrain,      // 16 frames, stride 2, MultiScaleCrop
  kKineticsFinetune,  // DenseSampling (16 x rate 4 over a random window), RandomResizedCrop
  kSsv2Finetune,      // SegmentSampling (16 segments), RandomResizedCrop
  kTestViews,         // Kinetics test: 5 clips x 3 crops, all decoded in one pass
};

inline constexpr Workload kAllWorkloads[] = {Workload::kKineticsPretrain, Workload::kSsv2Pretrain,
                                             Workload::kKineticsFinetune, Workload::kSsv2Finetune,
                                             Workload::kTestViews};

// "k400_pretrain", "ssv2_pretrain", "k400_finetune", "ssv2_finetune", "test_views".
const char* WorkloadName(Workload workload);
absl::StatusOr<Workload> ParseWorkload(const std::string& name);

// `clips` clips over `files` (clip c takes file c % files.size()), each with
// its frames and crops drawn from the counter-based stream of (seed, clip).
// Output images are out_size x out_size. Files need frame_count, width and
// height filled in; `files` must not be empty.
Plan MakePlan(Workload workload, const std::vector<PlanFile>& files, int clips, uint64_t seed,
              int out_size = 224);

}  // namespace vmae::bench

#endif  // VMAE_BENCH_DECODE_WORKLOADS_H_
