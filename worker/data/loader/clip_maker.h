// One sample of the data list -> its clips, ready for the model: read the
// file, look up (or build) its index, choose frames and crops from the
// counter-based random streams of (seed, epoch, sample, view), decode every
// needed frame once with all its crops, augment, normalise.
//
// Pure function of its inputs: the same request gives the same floats on
// any thread, rank or restart.
#ifndef VMAE_WORKER_DATA_LOADER_CLIP_MAKER_H_
#define VMAE_WORKER_DATA_LOADER_CLIP_MAKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/data/loader/clip_recipe.h"
#include "worker/data/video/clip_decoder.h"
#include "worker/data/video/index_cache.h"

namespace vmae::data {

struct ClipRequest {
  std::string path;
  int64_t sample = 0;  // index in the data list: keys the random streams
  uint64_t epoch = 0;
};

// Writes recipe.views() clips, each [3, T, S, S] normalised floats, into
// `out` (recipe.views() x recipe.clip_floats() floats). Errors that come from
// the file carry a BadSampleKind (worker/data/bad_sample.h).
absl::Status MakeClips(const ClipRecipe& recipe, const ClipRequest& request,
                       video::IndexCache& index_cache, float* out,
                       video::DecodeStats* stats = nullptr);

// The same clips as uint8 RGB [T, S, S, 3] per view, before normalisation
// (and before flip and erasing): what `vmae preview` shows.
absl::Status MakeClipsRgb(const ClipRecipe& recipe, const ClipRequest& request,
                          video::IndexCache& index_cache, std::vector<uint8_t>* rgb,
                          std::vector<bool>* flips, video::DecodeStats* stats = nullptr);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_LOADER_CLIP_MAKER_H_
