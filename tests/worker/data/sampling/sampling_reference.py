#!/usr/bin/python3
"""The authors' frame sampling, written with numpy, printing the expected
vectors held by sampling_test.cc.  /usr/bin/python3 sampling_reference.py

The code follows VideoMAE's pre-training loader (_sample_train_indices and
_video_TSN_decord_batch_loader), kinetics.py and ssv2.py; each numpy/random
draw is replaced by a draw from the counter-based stream, re-implemented
independently in tests/common/random/philox_reference.py.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "common", "random"))
from philox_reference import Stream  # noqa: E402

TEMPORAL = 2


def stride_sampling(n, clip_len, stride, rng):
    num_segments, new_length, new_step = 1, clip_len, stride
    skip_length = new_length * new_step
    average_duration = (n - skip_length + 1) // num_segments
    if average_duration > 0:
        offsets = np.multiply(list(range(num_segments)), average_duration)
        offsets = offsets + np.array([rng.below(average_duration) for _ in range(num_segments)])
    elif n > max(num_segments, skip_length):
        offsets = np.sort([rng.below(n - skip_length + 1) for _ in range(num_segments)])
    else:
        offsets = np.zeros((num_segments,))
    skip_offsets = np.zeros(skip_length // new_step, dtype=int)
    indices = offsets + 1
    frame_id_list = []
    for seg_ind in indices:
        offset = int(seg_ind)
        for i, _ in enumerate(range(0, skip_length, new_step)):
            if offset + skip_offsets[i] <= n:
                frame_id = offset + skip_offsets[i] - 1
            else:
                frame_id = offset - 1
            frame_id_list.append(frame_id)
            if offset + new_step < n:
                offset += new_step
    return [int(x) for x in frame_id_list]


def dense_sampling(n, clip_len, frame_sample_rate, num_segment, rng):
    converted_len = int(clip_len * frame_sample_rate)
    seg_len = n // num_segment
    all_index = []
    for i in range(num_segment):
        if seg_len <= converted_len:
            index = np.linspace(0, seg_len, num=seg_len // frame_sample_rate)
            index = np.concatenate((index, np.ones(clip_len - seg_len // frame_sample_rate) * seg_len))
            index = np.clip(index, 0, seg_len - 1).astype(np.int64)
        else:
            end_idx = converted_len + rng.below(seg_len - converted_len)  # randint(conv, seg_len)
            str_idx = end_idx - converted_len
            index = np.linspace(str_idx, end_idx, num=clip_len)
            index = np.clip(index, str_idx, end_idx - 1).astype(np.int64)
        index = index + i * seg_len
        all_index.extend(list(index))
    return [int(x) for x in all_index]


def segment_sampling(n, num_segment, rng):
    average_duration = n // num_segment
    all_index = []
    if average_duration > 0:
        all_index += list(np.multiply(list(range(num_segment)), average_duration) +
                          np.array([rng.below(average_duration) for _ in range(num_segment)]))
    elif n > num_segment:
        all_index += list(np.sort([rng.below(n) for _ in range(num_segment)]))
    else:
        all_index += list(np.zeros((num_segment,)))
    return [int(x) for x in all_index]


def kinetics_test(n, clip_len, rate, test_clips):
    all_index = [x for x in range(0, n, rate)]
    while len(all_index) < clip_len:
        all_index.append(all_index[-1])
    out = []
    for chunk_nb in range(test_clips):
        temporal_step = max(1.0 * (len(all_index) - clip_len) / (test_clips - 1), 0)
        temporal_start = int(chunk_nb * temporal_step)
        out.append(all_index[temporal_start:temporal_start + clip_len])
    return out


def ssv2_test(n, num_segment, test_clips):
    tick = n / float(num_segment)
    all_index = list(np.array([int(tick / 2.0 + tick * x) for x in range(num_segment)] +
                              [int(tick * x) for x in range(num_segment)]))
    while len(all_index) < (num_segment * test_clips):
        all_index.append(all_index[-1])
    all_index = list(np.sort(np.array(all_index)))
    return [[int(x) for x in all_index[c::test_clips]] for c in range(test_clips)]


def test_crops(w, h, size, crops):
    """Resize as the authors' get_resize_sizes, crop as their test mode,
    then map back to source pixels (round half up)."""
    if w < h:
        ow, oh = size, int(size * h / w)
    else:
        oh, ow = size, int(size * w / h)
    spatial_step = 1.0 * (max(oh, ow) - size) / (crops - 1)
    out = []
    for k in range(crops):
        s = int(k * spatial_step)
        if oh >= ow:
            lo, hi = int(np.floor(s * h / oh + 0.5)), int(np.floor((s + size) * h / oh + 0.5))
            out.append((0, lo, w, hi - lo))
        else:
            lo, hi = int(np.floor(s * w / ow + 0.5)), int(np.floor((s + size) * w / ow + 0.5))
            out.append((lo, 0, hi - lo, h))
    return out


def key(sample):
    return Stream(1234, TEMPORAL, 5, sample, 0)


if __name__ == "__main__":
    print("# linspace")
    for args in [(0, 10, 5), (0, 64, 16), (3, 67, 16), (0, 7, 3), (0, 1, 7), (5, 5, 4),
                 (0, 100, 1), (2.5, -1.0, 6)]:
        print(args, ["%.17g" % v for v in np.linspace(*args)])
    print("# StrideSampling(n, 16, stride) with Stream(1234, kTemporal, 5, sample=n, 0)")
    for n, stride in [(300, 4), (64, 4), (65, 4), (100, 2), (40, 2)]:
        print(n, stride, stride_sampling(n, 16, stride, key(n)))
    print("# DenseSampling(n, 16, rate, segs) with Stream(1234, kTemporal, 5, sample=n, 0)")
    for n, rate, segs in [(300, 4, 1), (65, 4, 1), (64, 4, 1), (50, 4, 1), (30, 4, 1),
                          (300, 2, 2), (250, 5, 1)]:
        print(n, rate, segs, dense_sampling(n, 16, rate, segs, key(n)))
    print("# SegmentSampling(n, 16) with Stream(1234, kTemporal, 5, sample=n, 0)")
    for n in [16, 37, 100, 200]:
        print(n, segment_sampling(n, 16, key(n)))
    print("# KineticsTestViews(n, 16, rate, clips)")
    for n, rate, clips in [(300, 4, 5), (100, 4, 5), (40, 4, 5), (250, 2, 3)]:
        print(n, rate, clips, kinetics_test(n, 16, rate, clips))
    print("# SsV2TestViews(n, 16, 2)")
    for n in [48, 50, 20, 10]:
        print(n, ssv2_test(n, 16, 2))
    print("# TestCropOffsets(w, h, 224, 3) as (x, y, w, h)")
    for w, h in [(340, 256), (320, 240), (256, 340), (224, 224), (455, 256), (640, 360)]:
        print(w, h, test_crops(w, h, 224, 3))
