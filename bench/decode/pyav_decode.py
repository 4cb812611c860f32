#!/usr/bin/python3
"""The PyAV baseline of the decode benchmark (bench/decode/README.md).

Does exactly the work of a plan written by `vmae_decode_bench plan`: the same
files, the same frame numbers and the same crops, each cropped and resized to
the plan's output size with bilinear filtering. It runs the way a PyAV user's
fastest loader would (one container per clip, as a PyTorch DataLoader worker
opens it), with the algorithm of our ClipDecoder so that the comparison is of
implementations, not of algorithms:
  - wanted frames sorted, each decoded once, never a backward seek;
  - seek (container.seek(pts, stream, backward=True, any_frame=False)) to the
    keyframe before the next wanted frame only when that keyframe lies ahead
    of the last decoded frame, otherwise decode forward;
  - kept frames matched by timestamp: "frame i" is the i-th packet timestamp
    in sorted order (decord's definition), found by demuxing each file once,
    untimed, like our cached index.
Conversion: frame.to_image() (swscale YUV -> RGB24 at full size, inside PyAV)
then PIL Image.resize((W, H), BILINEAR, box=crop), which crops and resizes in
one pass (Pillow 9.4, one thread), then a copy into a preallocated numpy batch.
PIL's bilinear is what the authors' pipeline uses.

--mode naive decodes from the start of the file instead (no seek at all).
--thread_type default keeps PyAV's default (SLICE: one thread on typical
x264 files); AUTO enables frame threading with FFmpeg's automatic count.
--workers N runs N processes, clips dealt round robin, like DataLoader
workers; throughput is clips / wall time of the whole run.

Prints nothing on success; writes a JSON result (see write_result).
Use /usr/bin/python3 (Debian's python3-av 10, numpy, Pillow).
"""
import argparse
import bisect
import json
import multiprocessing
import sys
import time

import av
import numpy as np
from PIL import Image


class FileIndex:
    """Frame numbers of one file: sorted packet pts and keyframe numbers."""

    def __init__(self, path, expected_frames):
        with av.open(path) as container:
            stream = container.streams.video[0]
            pts, key_pts = [], []
            for packet in container.demux(stream):
                if packet.pts is None:  # the flush packet at the end
                    continue
                pts.append(packet.pts)
                if packet.is_keyframe:
                    key_pts.append(packet.pts)
        pts.sort()
        if len(pts) != expected_frames:
            raise SystemExit(
                f"pyav_decode: {path}: {len(pts)} video packets but the plan says "
                f"{expected_frames} frames; regenerate the plan from these files")
        self.pts = pts
        self.frame_of_pts = {p: i for i, p in enumerate(pts)}
        self.keyframes = sorted(self.frame_of_pts[p] for p in key_pts)
        if not self.keyframes or self.keyframes[0] != 0:
            raise SystemExit(f"pyav_decode: {path}: the first frame is not a keyframe; "
                             "the benchmark expects files that start with one")

    def keyframe_before(self, frame):
        return self.keyframes[bisect.bisect_right(self.keyframes, frame) - 1]


def open_video(path, thread_type):
    container = av.open(path)
    stream = container.streams.video[0]
    if thread_type != "default":
        stream.thread_type = thread_type
    return container, stream


class ClipWork:
    """One clip of the plan: wanted frames and, per frame, its outputs."""

    def __init__(self, clip, plan):
        self.file = clip["file"]
        self.frames = clip["frames"]  # sorted, unique
        self.boxes = [(c[0], c[1], c[0] + c[2], c[1] + c[3]) for c in clip["crops"]]
        self.outputs = {}  # frame -> [(target slot, crop)]
        for slot, (frame, crop) in enumerate(clip["targets"]):
            self.outputs.setdefault(frame, []).append((slot, crop))
        self.size = (plan["out_width"], plan["out_height"])


def convert(frame, number, work, out):
    image = frame.to_image()
    for slot, crop in work.outputs[number]:
        out[slot] = np.asarray(image.resize(work.size, Image.BILINEAR, box=work.boxes[crop]))


def decode_clip(work, index, path, thread_type, mode, out, stats):
    """Fills out[0:len(targets)]; returns nothing, raises on a missing frame."""
    container, stream = open_video(path, thread_type)
    try:
        wanted = work.frames
        i = 0
        while i < len(wanted):
            if mode == "seek":
                key = index.keyframe_before(wanted[i])
                container.seek(index.pts[key], stream=stream, backward=True, any_frame=False)
                stats["seeks"] += 1
            for frame in container.decode(stream):
                stats["frames_decoded"] += 1
                number = index.frame_of_pts.get(frame.pts)
                if number is None:
                    raise RuntimeError(f"{path}: decoded a frame with pts {frame.pts} "
                                       "that no packet had")
                if number > wanted[i]:
                    raise RuntimeError(f"{path}: frame {wanted[i]} never appeared "
                                       f"(next was {number})")
                if number < wanted[i]:
                    continue
                convert(frame, number, work, out)
                stats["frames_kept"] += 1
                i += 1
                if i == len(wanted):
                    break
                if mode == "seek" and index.keyframe_before(wanted[i]) > number:
                    break  # seeking ahead skips decoding frames we do not need
            else:
                if i < len(wanted):
                    raise RuntimeError(f"{path}: end of stream before frame {wanted[i]}")
    finally:
        container.close()


def run_worker(args, plan, indexes, clip_ids, result_queue):
    try:
        result_queue.put(time_clips(args, plan, indexes, clip_ids))
    except Exception as e:  # the parent waits on the queue: always answer
        result_queue.put({"error": f"{type(e).__name__}: {e}"})


def time_clips(args, plan, indexes, clip_ids):
    stats = {"frames_decoded": 0, "frames_kept": 0, "seeks": 0}
    latencies = []
    max_targets = max(len(plan["clips"][c]["targets"]) for c in clip_ids) if clip_ids else 0
    out = np.empty((max_targets, plan["out_height"], plan["out_width"], 3), np.uint8)
    works = [ClipWork(plan["clips"][c], plan) for c in clip_ids]
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    for work in works:
        path = plan["files"][work.file]["path"]
        t0 = time.monotonic()
        decode_clip(work, indexes[work.file], path, args.thread_type, args.mode, out, stats)
        latencies.append((time.monotonic() - t0) * 1e3)
    wall1 = time.monotonic()
    return {"start": wall0, "end": wall1, "cpu_s": time.process_time() - cpu0,
            "latency_ms": latencies, **stats}


def dump_clip(args, plan, indexes):
    clip = plan["clips"][args.clip]
    work = ClipWork(clip, plan)
    out = np.empty((len(clip["targets"]), plan["out_height"], plan["out_width"], 3), np.uint8)
    stats = {"frames_decoded": 0, "frames_kept": 0, "seeks": 0}
    decode_clip(work, indexes[work.file], plan["files"][work.file]["path"], args.thread_type,
                args.mode, out, stats)
    out.tofile(args.dump)


def write_result(args, plan, parts):
    result = {
        "impl": f"pyav-{args.thread_type}" + ("-naive" if args.mode == "naive" else ""),
        "workload": plan["workload"],
        "workers": args.workers,
        "clips": len(plan["clips"]),
        "wall_s": max(p["end"] for p in parts) - min(p["start"] for p in parts),
        "cpu_s": sum(p["cpu_s"] for p in parts),
        "latency_ms": [x for p in parts for x in p["latency_ms"]],
    }
    for key in ("frames_decoded", "frames_kept", "seeks"):
        result[key] = sum(p[key] for p in parts)
    with open(args.out, "w") as f:
        json.dump(result, f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", required=True, help="plan JSON from vmae_decode_bench plan")
    parser.add_argument("--out", help="result JSON to write (timed run)")
    parser.add_argument("--thread_type", default="default", choices=["default", "AUTO"])
    parser.add_argument("--mode", default="seek", choices=["seek", "naive"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--dump", help="instead of timing, write clip --clip's RGB here")
    parser.add_argument("--clip", type=int, default=0)
    args = parser.parse_args()
    if not args.out and not args.dump:
        parser.error("give --out (timed run) or --dump (one clip's pixels)")
    with open(args.plan) as f:
        plan = json.load(f)
    if not plan["clips"]:
        raise SystemExit(f"pyav_decode: {args.plan} has no clips; make a plan with --clips > 0")
    used = sorted({c["file"] for c in plan["clips"]})
    indexes = {i: FileIndex(plan["files"][i]["path"], plan["files"][i]["frame_count"])
               for i in used}
    if args.dump:
        dump_clip(args, plan, indexes)
        return
    # fork: workers inherit the plan and the indexes, built untimed above.
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    ids = list(range(len(plan["clips"])))
    workers = [context.Process(target=run_worker,
                               args=(args, plan, indexes, ids[w::args.workers], queue))
               for w in range(args.workers)]
    for w in workers:
        w.start()
    parts = [queue.get() for _ in workers]
    for w in workers:
        w.join()
    errors = [p["error"] for p in parts if "error" in p]
    if errors:
        raise SystemExit(f"pyav_decode: {args.plan}: {errors[0]}")
    write_result(args, plan, parts)


if __name__ == "__main__":
    sys.exit(main())
