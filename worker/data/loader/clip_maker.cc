#include "worker/data/loader/clip_maker.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/random/counter_random.h"
#include "common/status_macros.h"
#include "worker/data/augment/crop_params.h"
#include "worker/data/augment/erasing.h"
#include "worker/data/augment/normalize.h"
#include "worker/data/augment/rand_augment.h"
#include "worker/data/sampling/frame_sampling.h"
#include "worker/data/video/encoded_video.h"

namespace vmae::data {
namespace {

using random::Purpose;
using random::RandomStream;

// What to decode for one sample: per view its frames, its crop and whether it
// is mirrored.
struct ViewPlan {
  std::vector<std::vector<int64_t>> frames;  // per view, num_frames each
  std::vector<video::CropResize> crops;      // per view
  std::vector<bool> flips;                   // per view
};

RandomStream Stream(const ClipRecipe& recipe, const ClipRequest& request, Purpose purpose,
                    int view) {
  return RandomStream(random::StreamKey{recipe.seed, purpose, request.epoch,
                                        static_cast<uint64_t>(request.sample),
                                        static_cast<uint32_t>(view)});
}

video::CropResize Resized(const CropBox& box, int size) {
  return video::CropResize{box.x, box.y, box.width, box.height, size, size};
}

// The authors' validation transform: resize the short side to `size`, then
// take the centre square; in source pixels that is the centre square of the
// short side.
video::CropResize CentreCrop(int width, int height, int size) {
  const int side = std::min(width, height);
  return video::CropResize{(width - side) / 2, (height - side) / 2, side, side, size, size};
}

// Frames for training and validation clips: one draw per sample, shared by
// all its views (repeated augmentation decodes once).
std::vector<int64_t> TrainFrames(const ClipRecipe& recipe, const ClipRequest& request,
                                 int64_t frame_count) {
  RandomStream rng = Stream(recipe, request, Purpose::kTemporal, 0);
  switch (recipe.sampling) {
    case Sampling::kStride:
      return StrideSampling(frame_count, recipe.num_frames, recipe.sampling_rate, rng);
    case Sampling::kDense:
      return DenseSampling(frame_count, recipe.num_frames, recipe.sampling_rate, 1, rng);
    case Sampling::kSegment:
      return SegmentSampling(frame_count, recipe.num_frames, rng);
  }
  return {};
}

ViewPlan PlanViews(const ClipRecipe& recipe, const ClipRequest& request,
                   const video::VideoIndex& index) {
  ViewPlan plan;
  const int width = index.info.width;
  const int height = index.info.height;
  const int64_t frame_count = index.frame_count();
  const int size = recipe.image_size;
  switch (recipe.mode) {
    case ClipMode::kPretrain:
    case ClipMode::kTrain: {
      const std::vector<int64_t> frames = TrainFrames(recipe, request, frame_count);
      for (int view = 0; view < recipe.views(); ++view) {
        RandomStream rng = Stream(recipe, request, Purpose::kSpatial, view);
        plan.frames.push_back(frames);
        if (recipe.mode == ClipMode::kPretrain) {
          plan.crops.push_back(Resized(MultiScaleCrop(width, height, size, rng), size));
          plan.flips.push_back(false);
        } else {
          plan.crops.push_back(Resized(RandomResizedCrop(width, height, rng), size));
          plan.flips.push_back(recipe.flip && Flip(rng));
        }
      }
      break;
    }
    case ClipMode::kValidate:
      plan.frames.push_back(TrainFrames(recipe, request, frame_count));
      plan.crops.push_back(CentreCrop(width, height, size));
      plan.flips.push_back(false);
      break;
    case ClipMode::kTest: {
      const std::vector<std::vector<int64_t>> clips =
          recipe.sampling == Sampling::kSegment
              ? SsV2TestViews(frame_count, recipe.num_frames, recipe.test_clips)
              : KineticsTestViews(frame_count, recipe.num_frames, recipe.sampling_rate,
                                  recipe.test_clips);
      const std::vector<TestCrop> crops = TestCropOffsets(width, height, size, recipe.test_crops);
      for (const std::vector<int64_t>& frames : clips) {
        for (const TestCrop& crop : crops) {
          plan.frames.push_back(frames);
          plan.crops.push_back(video::CropResize{crop.box.x, crop.box.y, crop.box.width,
                                                 crop.box.height, crop.out_width, crop.out_height});
          plan.flips.push_back(false);
        }
      }
      break;
    }
  }
  return plan;
}

// Decodes every view's frames in one pass over the file into `rgb`
// (views x T x S x S x 3), then applies RandAugment where the recipe asks.
absl::Status DecodeViews(const ClipRecipe& recipe, const ClipRequest& request,
                         video::IndexCache& index_cache, std::vector<uint8_t>* rgb,
                         std::vector<bool>* flips, video::DecodeStats* stats) {
  const absl::Time deadline = absl::Now() + recipe.clip_timeout;
  VMAE_ASSIGN_OR_RETURN(video::EncodedVideo encoded, video::ReadEncodedVideo(request.path));
  VMAE_ASSIGN_OR_RETURN(std::shared_ptr<const video::VideoIndex> index,
                        index_cache.GetOrBuild(encoded));
  const ViewPlan plan = PlanViews(recipe, request, *index);
  const int views = static_cast<int>(plan.frames.size());
  const int size = recipe.image_size;
  const size_t frame_bytes = static_cast<size_t>(size) * size * 3;
  const size_t clip_bytes = frame_bytes * recipe.num_frames;
  rgb->assign(clip_bytes * views, 0);
  std::vector<video::FrameTarget> targets;
  targets.reserve(static_cast<size_t>(views) * recipe.num_frames);
  for (int view = 0; view < views; ++view) {
    for (int t = 0; t < recipe.num_frames; ++t) {
      uint8_t* out = rgb->data() + clip_bytes * view + frame_bytes * t;
      targets.push_back(video::FrameTarget{plan.frames[view][t], view, out, size * 3});
    }
  }
  VMAE_ASSIGN_OR_RETURN(std::unique_ptr<video::ClipDecoder> decoder,
                        video::ClipDecoder::Open(std::move(encoded), index));
  video::DecodeOptions options;
  options.deadline = deadline;
  VMAE_RETURN_IF_ERROR(decoder->Decode(targets, plan.crops, options, stats));
  if (recipe.mode == ClipMode::kTrain && recipe.rand_augment.has_value()) {
    for (int view = 0; view < views; ++view) {
      RandomStream rng = Stream(recipe, request, Purpose::kRandAugment, view);
      RandAugmentClip(*recipe.rand_augment, rng, rgb->data() + clip_bytes * view, recipe.num_frames,
                      size, size);
    }
  }
  *flips = plan.flips;
  return absl::OkStatus();
}

}  // namespace

absl::Status MakeClipsRgb(const ClipRecipe& recipe, const ClipRequest& request,
                          video::IndexCache& index_cache, std::vector<uint8_t>* rgb,
                          std::vector<bool>* flips, video::DecodeStats* stats) {
  return DecodeViews(recipe, request, index_cache, rgb, flips, stats);
}

absl::Status MakeClips(const ClipRecipe& recipe, const ClipRequest& request,
                       video::IndexCache& index_cache, float* out, video::DecodeStats* stats) {
  std::vector<uint8_t> rgb;
  std::vector<bool> flips;
  VMAE_RETURN_IF_ERROR(DecodeViews(recipe, request, index_cache, &rgb, &flips, stats));
  const int size = recipe.image_size;
  const size_t clip_bytes = static_cast<size_t>(size) * size * 3 * recipe.num_frames;
  for (int view = 0; view < recipe.views(); ++view) {
    float* clip = out + recipe.clip_floats() * view;
    NormalizeClip(rgb.data() + clip_bytes * view, recipe.num_frames, size, size, flips[view], clip);
    if (recipe.mode == ClipMode::kTrain && recipe.erase_probability > 0) {
      RandomStream rng = Stream(recipe, request, Purpose::kErasing, view);
      ErasingOptions erasing;
      erasing.probability = recipe.erase_probability;
      RandomErasing(erasing, rng, clip, 3, recipe.num_frames, size, size);
    }
  }
  return absl::OkStatus();
}

}  // namespace vmae::data
