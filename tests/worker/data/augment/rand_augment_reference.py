"""Reference outputs for rand_augment_test.cc, computed with Pillow the way
timm 0.4.12's auto_augment.py (VideoMAE's rand_augment.py) calls it.

Usage: rand_augment_reference.py CASES_FILE
Each line of CASES_FILE is
    INPUT HEIGHT WIDTH OUTPUT|OP ARG...|OP ARG...
INPUT is packed RGB24 (HEIGHT x WIDTH); the ops run in order and the result
is written, packed RGB24, to OUTPUT. Exit status 3 means Pillow or numpy is
missing (the test skips).
"""
import sys

try:
    import numpy as np
    from PIL import Image, ImageEnhance, ImageOps
except ImportError as e:  # the caller skips the comparison
    print("missing module: %s" % e)
    sys.exit(3)

RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def solarize_add(img, add, thresh=128):
    # timm's solarize_add, verbatim in behaviour.
    lut = []
    for i in range(256):
        lut.append(min(255, i + add) if i < thresh else i)
    return img.point(lut + lut + lut)


def posterize(img, bits):
    return img if bits >= 8 else ImageOps.posterize(img, bits)


def affine(img, matrix, resample, fill):
    return img.transform(img.size, Image.AFFINE, matrix, resample=resample, fillcolor=fill)


def apply(img, op, args):
    """One op as timm calls it; geometric ops take ARGS = value resample R G B."""
    if op == "autocontrast":
        return ImageOps.autocontrast(img)
    if op == "equalize":
        return ImageOps.equalize(img)
    if op == "invert":
        return ImageOps.invert(img)
    if op == "posterize":
        return posterize(img, int(args[0]))
    if op == "solarize":
        return ImageOps.solarize(img, int(args[0]))
    if op == "solarize_add":
        return solarize_add(img, int(args[0]))
    enhancers = {
        "color": ImageEnhance.Color,
        "contrast": ImageEnhance.Contrast,
        "brightness": ImageEnhance.Brightness,
        "sharpness": ImageEnhance.Sharpness,
    }
    if op in enhancers:
        return enhancers[op](img).enhance(float(args[0]))
    v = float(args[0])
    resample = RESAMPLE[args[1]]
    fill = tuple(int(a) for a in args[2:5])
    w, h = img.size
    if op == "rotate":
        return img.rotate(v, resample=resample, fillcolor=fill)
    if op == "shear_x":
        return affine(img, (1, v, 0, 0, 1, 0), resample, fill)
    if op == "shear_y":
        return affine(img, (1, 0, 0, v, 1, 0), resample, fill)
    if op == "translate_x":
        return affine(img, (1, 0, v, 0, 1, 0), resample, fill)
    if op == "translate_y":
        return affine(img, (1, 0, 0, 0, 1, v), resample, fill)
    if op == "translate_x_rel":  # timm: pixels = pct * img.size[0]
        return affine(img, (1, 0, v * w, 0, 1, 0), resample, fill)
    if op == "translate_y_rel":  # timm: pixels = pct * img.size[1]
        return affine(img, (1, 0, 0, 0, 1, v * h), resample, fill)
    raise ValueError("unknown op %r" % op)


def main():
    with open(sys.argv[1]) as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    for line in lines:
        fields = line.split("|")
        src, height, width, dst = fields[0].split()
        height, width = int(height), int(width)
        data = np.fromfile(src, dtype=np.uint8).reshape(height, width, 3)
        img = Image.fromarray(data, "RGB")
        for step in fields[1:]:
            parts = step.split()
            img = apply(img, parts[0], parts[1:])
        np.asarray(img, dtype=np.uint8).tofile(dst)


if __name__ == "__main__":
    main()
