#!/usr/bin/python3
"""The authors' crop and erasing parameter code (VideoMAE's
GroupMultiScaleCrop, SlowFast/pytorchvideo _get_param_spatial_crop, timm's
RandomErasing) with each `random` draw replaced by a draw from the
counter-based stream re-implemented in tests/common/random/philox_reference.py.
Prints the expected values held by crop_params_test.cc and erasing_test.cc:
    /usr/bin/python3 augment_reference.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "common", "random"))
from philox_reference import Stream  # noqa: E402

SPATIAL, ERASING = 3, 5


class PyRandom:
    """The few `random` calls the authors make, on our stream."""

    def __init__(self, stream):
        self.s = stream

    def choice(self, seq):
        return seq[self.s.below(len(seq))]

    def uniform(self, a, b):
        return a + (b - a) * self.s.uniform()

    def random(self):
        return self.s.uniform()

    def randint(self, a, b):
        return a + self.s.below(b - a + 1)


def multi_scale_crop(image_w, image_h, rnd, input_size=224, scales=(1, .875, .75, .66),
                     max_distort=1):
    base_size = min(image_w, image_h)
    crop_sizes = [int(base_size * x) for x in scales]
    crop_h = [input_size if abs(x - input_size) < 3 else x for x in crop_sizes]
    crop_w = [input_size if abs(x - input_size) < 3 else x for x in crop_sizes]
    pairs = []
    for i, h in enumerate(crop_h):
        for j, w in enumerate(crop_w):
            if abs(i - j) <= max_distort:
                pairs.append((w, h))
    crop_pair = rnd.choice(pairs)
    w_step = (image_w - crop_pair[0]) // 4
    h_step = (image_h - crop_pair[1]) // 4
    ret = [(0, 0), (4 * w_step, 0), (0, 4 * h_step), (4 * w_step, 4 * h_step),
           (2 * w_step, 2 * h_step), (0, 2 * h_step), (4 * w_step, 2 * h_step),
           (2 * w_step, 4 * h_step), (2 * w_step, 0 * h_step), (1 * w_step, 1 * h_step),
           (3 * w_step, 1 * h_step), (1 * w_step, 3 * h_step), (3 * w_step, 3 * h_step)]
    x, y = rnd.choice(ret)
    return (x, y, crop_pair[0], crop_pair[1])


def spatial_crop(scale, ratio, height, width, rnd, num_repeat=10):
    for _ in range(num_repeat):
        area = height * width
        target_area = rnd.uniform(*scale) * area
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        aspect_ratio = math.exp(rnd.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            i = rnd.randint(0, height - h)
            j = rnd.randint(0, width - w)
            return (j, i, w, h)
    in_ratio = float(width) / float(height)
    if in_ratio < min(ratio):
        w = width
        h = int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        h = height
        w = int(round(h * max(ratio)))
    else:
        w = width
        h = height
    i = (height - h) // 2
    j = (width - w) // 2
    return (j, i, w, h)


def erasing_boxes(frames, img_h, img_w, rnd, probability=0.25, min_area=0.02,
                  max_area=1 / 3, min_aspect=0.3):
    """timm RandomErasing._erase per frame; returns (frame, top, left, h, w)
    and the first two noise values of each box (channel 0, row-major)."""
    log_aspect_ratio = (math.log(min_aspect), math.log(1 / min_aspect))
    out = []
    for t in range(frames):
        if rnd.random() >= probability:  # timm: > p (see erasing.h)
            continue
        area = img_h * img_w
        count = 1
        for _ in range(count):
            for attempt in range(10):
                target_area = rnd.uniform(min_area, max_area) * area / count
                aspect_ratio = math.exp(rnd.uniform(*log_aspect_ratio))
                h = int(round(math.sqrt(target_area * aspect_ratio)))
                w = int(round(math.sqrt(target_area / aspect_ratio)))
                if w < img_w and h < img_h:
                    top = rnd.randint(0, img_h - h)
                    left = rnd.randint(0, img_w - w)
                    noise = [rnd.s.normal() for _ in range(3 * h * w)]
                    out.append((t, top, left, h, w, noise[0], noise[1]))
                    break
    return out


if __name__ == "__main__":
    print("# MultiScaleCrop(w, h) with Stream(99, kSpatial, 0, sample, 0), (x, y, w, h)")
    for w, h in [(340, 256), (320, 240)]:
        print(w, h, [multi_scale_crop(w, h, PyRandom(Stream(99, SPATIAL, 0, s, 0)))
                     for s in range(6)])
    print("# RandomResizedCrop(w, h) with Stream(99, kSpatial, 1, sample, 0), (x, y, w, h)")
    for w, h in [(320, 240), (171, 128)]:
        print(w, h, [spatial_crop((0.08, 1.0), (3 / 4, 4 / 3), h, w,
                                  PyRandom(Stream(99, SPATIAL, 1, s, 0))) for s in range(6)])
    print("# RandomErase over 16 frames of 3x24x32, Stream(5, kErasing, 2, 11, 0)")
    for box in erasing_boxes(16, 24, 32, PyRandom(Stream(5, ERASING, 2, 11, 0))):
        print("{%d, %d, %d, %d, %d, %.17g, %.17g}," % box)
