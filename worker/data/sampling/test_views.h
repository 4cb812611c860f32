// Evaluation views (the authors' test mode): each video is seen as
// test_clips temporal clips x test_crops spatial crops, and the softmax of
// every view is averaged. The authors enumerate views clip-major (for clip:
// for crop), so view v is clip v / test_crops, crop v % test_crops. No
// randomness. Each function returns the frames of every clip, in clip order.
#ifndef VMAE_WORKER_DATA_SAMPLING_TEST_VIEWS_H_
#define VMAE_WORKER_DATA_SAMPLING_TEST_VIEWS_H_

#include <cstdint>
#include <vector>

#include "worker/data/sampling/crop_box.h"

namespace vmae::data {

// kinetics.py test mode: all_index = range(0, N, rate), padded with its last
// element to clip_len entries; temporal_step = max((len(all_index) -
// clip_len) / (test_clips - 1), 0), 0 when test_clips == 1 (where the
// authors' code would divide by zero); clip c takes clip_len entries from
// int(c * temporal_step).
std::vector<std::vector<int64_t>> KineticsTestViews(int64_t num_frames, int clip_len,
                                                    int frame_sample_rate, int test_clips);

// ssv2.py test mode: tick = N / num_segments; all_index = [int(tick / 2 +
// tick * x)] + [int(tick * x)] for x < num_segments, padded with its last
// element to num_segments * test_clips, sorted; clip c takes
// all_index[c::test_clips], the first num_segments of them. The authors
// write `buffer[chunk_nb::2]` with their test_num_segment = 2, which this
// generalises (written from memory of ssv2.py; equal for 2 clips).
// test_clips == 1 takes the segment centres int(tick / 2 + tick * x) (their
// code would return 2 * num_segments frames there).
std::vector<std::vector<int64_t>> SsV2TestViews(int64_t num_frames, int num_segments,
                                                int test_clips);

// A rectangle of the source (unresized, displayed) frame and the size it is
// scaled to; the decoder crops and resizes in one pass.
struct TestCrop {
  CropBox box;
  int out_width = 0;
  int out_height = 0;
};

// The authors' test crops: the frame is resized so its short side is
// short_side_size (long side int(short_side_size * long / short), their
// Resize), then test_crops squares of short_side_size are taken along the
// long side at int(k * spatial_step), spatial_step = (long' -
// short_side_size) / (test_crops - 1); test_crops == 1 takes the centre,
// (long' - short_side_size) / 2 (their code would divide by zero).
//
// The square is returned in source pixels: the long-side interval [s, s +
// short_side_size) of the resized frame maps to [s * long / long',
// (s + short_side_size) * long / long'), both ends rounded to the nearest
// pixel (halves up, exact integer arithmetic); the short side is whole.
// Cropping this and resizing it to short_side_size squared samples the same
// region as the authors' resize-then-crop, to under one source pixel.
std::vector<TestCrop> TestCropOffsets(int width, int height, int short_side_size, int test_crops);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_SAMPLING_TEST_VIEWS_H_
