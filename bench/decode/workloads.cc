#include "bench/decode/workloads.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/random/counter_random.h"
#include "worker/data/augment/crop_params.h"
#include "worker/data/sampling/test_views.h"
#include "worker/data/sampling/train_sampling.h"

namespace vmae::bench {
namespace {

using random::Purpose;
using random::RandomStream;

constexpr int kClipLength = 16;  // frames per clip in every VideoMAE recipe
constexpr int kTestClips = 5;    // Kinetics test views: 5 clips x 3 crops
constexpr int kTestCrops = 3;

RandomStream Stream(uint64_t seed, Purpose purpose, int clip) {
  return RandomStream(random::StreamKey{seed, purpose, 0, static_cast<uint64_t>(clip), 0});
}

// Frames in clip order (repeats allowed) -> the plan's distinct ascending
// frames, and one target per entry with crop `crop`.
void AddFrames(const std::vector<int64_t>& frames, int crop, PlanClip* clip) {
  for (int64_t frame : frames) {
    clip->targets.emplace_back(frame, crop);
    clip->frames.push_back(frame);
  }
}

void SortUnique(std::vector<int64_t>* frames) {
  std::sort(frames->begin(), frames->end());
  frames->erase(std::unique(frames->begin(), frames->end()), frames->end());
}

video::CropResize Crop(const data::CropBox& box, int out_size) {
  return video::CropResize{box.x, box.y, box.width, box.height, out_size, out_size};
}

PlanClip MakeClip(Workload workload, const PlanFile& file, int c, uint64_t seed, int out_size) {
  PlanClip clip;
  RandomStream temporal = Stream(seed, Purpose::kTemporal, c);
  RandomStream spatial = Stream(seed, Purpose::kSpatial, c);
  switch (workload) {
    case Workload::kKineticsPretrain:
    case Workload::kSsv2Pretrain: {
      const int stride = workload == Workload::kKineticsPretrain ? 4 : 2;
      AddFrames(data::StrideSampling(file.frame_count, kClipLength, stride, temporal), 0, &clip);
      clip.crops.push_back(
          Crop(data::MultiScaleCrop(file.width, file.height, out_size, spatial), out_size));
      break;
    }
    case Workload::kKineticsFinetune:
      AddFrames(data::DenseSampling(file.frame_count, kClipLength, 4, 1, temporal), 0, &clip);
      clip.crops.push_back(
          Crop(data::RandomResizedCrop(file.width, file.height, spatial), out_size));
      break;
    case Workload::kSsv2Finetune:
      AddFrames(data::SegmentSampling(file.frame_count, kClipLength, temporal), 0, &clip);
      clip.crops.push_back(
          Crop(data::RandomResizedCrop(file.width, file.height, spatial), out_size));
      break;
    case Workload::kTestViews: {
      // All 15 views from one decode: the authors' clip-major order.
      for (const data::TestCrop& crop :
           data::TestCropOffsets(file.width, file.height, out_size, kTestCrops)) {
        clip.crops.push_back(Crop(crop.box, out_size));
      }
      for (const std::vector<int64_t>& frames :
           data::KineticsTestViews(file.frame_count, kClipLength, 4, kTestClips)) {
        for (int crop = 0; crop < kTestCrops; ++crop) {
          AddFrames(frames, crop, &clip);
        }
      }
      break;
    }
  }
  SortUnique(&clip.frames);
  return clip;
}

}  // namespace

const char* WorkloadName(Workload workload) {
  switch (workload) {
    case Workload::kKineticsPretrain:
      return "k400_pretrain";
    case Workload::kSsv2Pretrain:
      return "ssv2_pretrain";
    case Workload::kKineticsFinetune:
      return "k400_finetune";
    case Workload::kSsv2Finetune:
      return "ssv2_finetune";
    case Workload::kTestViews:
      return "test_views";
  }
  return "unknown";
}

absl::StatusOr<Workload> ParseWorkload(const std::string& name) {
  std::string known;
  for (Workload w : kAllWorkloads) {
    if (name == WorkloadName(w)) {
      return w;
    }
    absl::StrAppend(&known, known.empty() ? "" : ", ", WorkloadName(w));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown workload \"", name, "\"; use one of: ", known));
}

Plan MakePlan(Workload workload, const std::vector<PlanFile>& files, int clips, uint64_t seed,
              int out_size) {
  Plan plan;
  plan.workload = std::string(WorkloadName(workload));
  plan.out_width = out_size;
  plan.out_height = out_size;
  plan.files = files;
  for (int c = 0; c < clips; ++c) {
    const int file = c % static_cast<int>(files.size());
    PlanClip clip = MakeClip(workload, files[file], c, seed, out_size);
    clip.file = file;
    plan.clips.push_back(std::move(clip));
  }
  return plan;
}

}  // namespace vmae::bench
