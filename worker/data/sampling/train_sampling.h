// Which frames a training clip takes: the authors' formulas (VideoMAE's
// pre-training loader, kinetics.py and ssv2.py), with their numpy/random
// draws replaced by draws from a RandomStream, in the same order.
//
// Every function returns frame numbers in [0, num_frames), in clip order
// (not necessarily distinct: short videos repeat frames). num_frames must be
// at least 1 and the sizes positive; breaking that is a bug and aborts (the
// loader rejects empty videos before sampling).
#ifndef VMAE_WORKER_DATA_SAMPLING_TRAIN_SAMPLING_H_
#define VMAE_WORKER_DATA_SAMPLING_TRAIN_SAMPLING_H_

#include <cstdint>
#include <vector>

#include "common/random/counter_random.h"

namespace vmae::data {

// Pre-training: `clip_len` frames `stride` apart from a random start
// (VideoMAE `_sample_train_indices` + `_video_TSN_decord_batch_loader` with
// one segment, new_length = clip_len, new_step = stride, no jitter). With
// skip = clip_len * stride the start is Below(N - skip + 1) when that is
// positive, else 0; the offset only advances while offset + stride < N, so a
// short video repeats its last sampled frame. One draw at most.
std::vector<int64_t> StrideSampling(int64_t num_frames, int clip_len, int stride,
                                    random::RandomStream& rng);

// Kinetics-style fine-tuning (kinetics.py `loadvideo_decord`, train mode):
// per segment of N / num_segment frames, `clip_len` indices linspace'd over a
// random window of clip_len * frame_sample_rate frames, or over the whole
// segment (padded with its end) when the segment is not longer than that
// window. One draw per segment that is longer than the window. The result
// has clip_len * num_segment entries.
std::vector<int64_t> DenseSampling(int64_t num_frames, int clip_len, int frame_sample_rate,
                                   int num_segment, random::RandomStream& rng);

// Something-Something-style fine-tuning (ssv2.py, train mode): N split into
// `num_segments` equal segments (N / num_segments frames each, the remainder
// at the end unused) and one random frame from each; all zeros when
// N < num_segments. num_segments draws when N >= num_segments.
std::vector<int64_t> SegmentSampling(int64_t num_frames, int num_segments,
                                     random::RandomStream& rng);

}  // namespace vmae::data

#endif  // VMAE_WORKER_DATA_SAMPLING_TRAIN_SAMPLING_H_
