#!/usr/bin/python3
"""PSNR between two dumps of the same clip (packed RGB24 images of SIZE x SIZE).

Usage: psnr.py OURS.rgb PYAV.rgb [SIZE=224]
Prints one JSON object: psnr_db over all pixels, the worst image's PSNR,
luma_psnr_db (on Y = 0.299 R + 0.587 G + 0.114 B: separates the scaling of
brightness from the chroma upsampling, where the pipelines differ most on
saturated fine texture), images compared and the largest absolute difference.
"""
import json
import sys

import numpy as np


def psnr(mse):
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def main():
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    size = int(sys.argv[3]) if len(sys.argv) == 4 else 224
    a = np.fromfile(sys.argv[1], np.uint8).astype(np.float64)
    b = np.fromfile(sys.argv[2], np.uint8).astype(np.float64)
    if a.size != b.size or a.size == 0 or a.size % (size * size * 3):
        raise SystemExit(f"psnr.py: {sys.argv[1]} has {a.size} bytes, {sys.argv[2]} {b.size}; "
                         f"both must hold the same number of {size}x{size} RGB images; "
                         "dump the same clip of the same plan")
    err = ((a - b) ** 2).reshape(-1, size * size * 3)
    luma = np.array([0.299, 0.587, 0.114])
    y_err = ((a.reshape(-1, 3) @ luma - b.reshape(-1, 3) @ luma) ** 2).mean()
    print(json.dumps({"psnr_db": round(psnr(err.mean()), 2),
                      "luma_psnr_db": round(psnr(y_err), 2),
                      "min_image_psnr_db": round(min(psnr(m) for m in err.mean(axis=1)), 2),
                      "images": err.shape[0],
                      "max_abs_diff": int(np.abs(a - b).max())}))


if __name__ == "__main__":
    main()
