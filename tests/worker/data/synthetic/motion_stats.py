#!/usr/bin/python3
"""Motion statistics of generated videos, computed independently of vmae:
ffmpeg decodes each video to 8-bit gray and numpy measures it.

Usage: motion_stats.py VIDEO...
Prints, per video i (in argument order), "name value" lines:
  v<i>.frames N          decoded frame count
  v<i>.min_step_diff X   smallest mean |frame[t+1] - frame[t]| over t
  v<i>.flow<t> U V       global optical flow from frame t to t+1 (pixels per
                         frame; V > 0 is downwards), least squares of the
                         brightness-constancy equation Ix*U + Iy*V + It = 0
                         over the pixels that change
  v<i>.chroma<t> CB CR    mean Cb and Cr of frame t minus those of frame 0
                         (ffmpeg's yuv444p, 0-255 studio range)
and for every i > 0:
  first_frame_diff<i> X  mean |frame0 of video i - frame0 of video 0|
"""
import subprocess
import sys

import numpy as np


def decode_gray(path):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height", "-of", "csv=p=0", path],
        check=True, capture_output=True, text=True).stdout.strip()
    width, height = (int(x) for x in probe.split(",")[:2])
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width).astype(np.float64)


def decode_chroma(path, frames, height, width):
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "yuv444p", "-"],
        check=True, capture_output=True).stdout
    planes = np.frombuffer(raw, np.uint8).reshape(frames, 3, height, width).astype(np.float64)
    return planes[:, 1].mean(axis=(1, 2)), planes[:, 2].mean(axis=(1, 2))


def global_flow(a, b):
    # Central differences on the mean of the two frames; the edges wrap like
    # the generated scene does.
    m = (a + b) / 2
    ix = (np.roll(m, -1, axis=1) - np.roll(m, 1, axis=1)) / 2
    iy = (np.roll(m, -1, axis=0) - np.roll(m, 1, axis=0)) / 2
    it = b - a
    moving = np.abs(it) > 8  # ignore coding noise on the still background
    ix, iy, it = ix[moving], iy[moving], it[moving]
    lhs = np.array([[np.sum(ix * ix), np.sum(ix * iy)], [np.sum(ix * iy), np.sum(iy * iy)]])
    rhs = -np.array([np.sum(ix * it), np.sum(iy * it)])
    if np.linalg.det(lhs) < 1e-6:
        return 0.0, 0.0
    u, v = np.linalg.solve(lhs, rhs)
    return u, v


def main():
    videos = [decode_gray(p) for p in sys.argv[1:]]
    for i, f in enumerate(videos):
        print(f"v{i}.frames {len(f)}")
        steps = [np.mean(np.abs(f[t + 1] - f[t])) for t in range(len(f) - 1)]
        print(f"v{i}.min_step_diff {min(steps):.4f}")
        for t in range(len(f) - 1):
            u, v = global_flow(f[t], f[t + 1])
            print(f"v{i}.flow{t} {u:.4f} {v:.4f}")
        cb, cr = decode_chroma(sys.argv[1 + i], *f.shape)
        for t in range(len(f)):
            print(f"v{i}.chroma{t} {cb[t] - cb[0]:.4f} {cr[t] - cr[0]:.4f}")
    for i in range(1, len(videos)):
        print(f"first_frame_diff{i} {np.mean(np.abs(videos[i][0] - videos[0][0])):.4f}")


if __name__ == "__main__":
    main()
