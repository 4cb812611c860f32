#!/usr/bin/python3
"""Summarises compare_decode.sh's results as Markdown (printed to stdout).

Reads OUT/results/r{round}.gop{gop}.{workload}.{variant}.w{workers}.json and
OUT/dumps/gop{gop}_{workload}.psnr.json. Throughput per core is
clips / wall seconds / clips in flight, from the runs with THREADS clips in
flight; latency comes from the one-clip-at-a-time runs. Every figure is the
median over rounds; spread is (max - min) / median over rounds.
"""
import argparse
import glob
import json
import os
import statistics

NAMES = {"ours": "ours", "ours-noskip": "ours, every frame", "pyav-default": "PyAV",
         "pyav-AUTO": "PyAV AUTO", "pyav-default-naive": "PyAV naive"}


def load(out_dir, gop, workload, variant, workers):
    runs = []
    for path in sorted(glob.glob(os.path.join(
            out_dir, "results", f"r*.gop{gop}.{workload}.{variant}.w{workers}.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    return runs


def per_core(runs, workers):
    return [r["clips"] / r["wall_s"] / workers for r in runs]


def spread(values):
    if len(values) < 2:
        return "-"
    return f"{100 * (max(values) - min(values)) / statistics.median(values):.0f}%"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def decoded_per_kept(runs):
    return sum(r["frames_decoded"] for r in runs) / max(1, sum(r["frames_kept"] for r in runs))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--gops", required=True)
    parser.add_argument("--workloads", required=True)
    parser.add_argument("--variants", required=True)
    args = parser.parse_args()
    variants = args.variants.split()
    pyavs = [v for v in variants if v.startswith("pyav")]
    t = args.threads
    rows_tp, rows_lat, rows_steps = [], [], []
    for gop in args.gops.split():
        for workload in args.workloads.split():
            key = f"gop {gop} | {workload}"
            par = {v: load(args.out_dir, gop, workload, v, t) for v in variants}
            one = {v: load(args.out_dir, gop, workload, v, 1) for v in variants}
            if not par["ours"] or not one["ours"]:
                continue
            tp = {v: per_core(par[v], t) for v in variants}
            med = {v: statistics.median(x) for v, x in tp.items() if x}
            best = max(pyavs, key=lambda v: med.get(v, 0))
            cells = [f"{med[v]:.1f} ({spread(tp[v])})" if v in med else "-" for v in variants]
            rows_tp.append(f"| {key} | " + " | ".join(cells) +
                           f" | **{med['ours'] / med[best]:.1f}x** vs {NAMES[best]} |")

            lat = {v: [x for r in one[v] for x in r["latency_ms"]] for v in variants}
            rate = {v: statistics.median([r["clips"] / r["wall_s"] for r in one[v]])
                    for v in variants if one[v]}
            best1 = max(pyavs, key=lambda v: rate.get(v, 0))
            psnr_path = os.path.join(args.out_dir, "dumps", f"gop{gop}_{workload}.psnr.json")
            psnr = "-"
            if os.path.exists(psnr_path):
                with open(psnr_path) as f:
                    p = json.load(f)
                psnr = f"{p['psnr_db']} ({p['min_image_psnr_db']}) / {p['luma_psnr_db']}"
            rows_lat.append(
                f"| {key} | {rate['ours']:.1f} | {percentile(lat['ours'], .5):.0f} / "
                f"{percentile(lat['ours'], .99):.0f} | {NAMES[best1]}: {rate[best1]:.1f} | "
                f"{percentile(lat[best1], .5):.0f} / {percentile(lat[best1], .99):.0f} | "
                f"{rate['ours'] / rate[best1]:.1f}x | {decoded_per_kept(one['ours']):.2f} | "
                f"{decoded_per_kept(one.get('ours-noskip', [])):.2f} | "
                f"{decoded_per_kept(one[best1]):.2f} | {psnr} |")

            o = one["ours"]
            cold = [x for r in o for x in r["index_build_ms"]]
            mean = lambda k: statistics.median(r[k] for r in o)
            cpu = {v: statistics.median(r["cpu_s"] / r["clips"] * 1e3 for r in one[v])
                   for v in variants if one[v]}
            rows_steps.append(
                f"| {key} | {mean('mean_read_ms'):.2f} | {mean('mean_index_ms'):.3f} | "
                f"{mean('mean_open_ms'):.2f} | {mean('mean_decode_ms'):.1f} | "
                f"{statistics.median(cold):.1f} | {cpu['ours']:.0f} | "
                + " | ".join(f"{cpu[v]:.0f}" for v in pyavs if v in cpu)
                + f" | {min(cpu[v] for v in pyavs if v in cpu) / cpu['ours']:.1f}x |")

    print(f"### Throughput: clips/s per core, {t} clips in flight "
          "(median over rounds, spread in brackets)\n")
    print("| data | workload | " + " | ".join(NAMES[v] for v in variants) +
          " | ours / best PyAV |")
    print("|" + "---|" * (len(variants) + 3))
    print("\n".join(rows_tp))
    print("\n### One clip at a time: clips/s, latency, decoded frames per kept frame, PSNR\n")
    print("| data | workload | ours clips/s | ours p50 / p99 ms | best PyAV clips/s | "
          "its p50 / p99 ms | ratio | decoded/kept ours | ours, every frame | PyAV | "
          "PSNR ours vs PyAV dB: RGB (worst image) / luma |")
    print("|" + "---|" * 12)
    print("\n".join(rows_lat))
    print("\n### Our steps (one clip at a time, ms per clip) and CPU ms per clip\n")
    print("| data | workload | read | index (warm cache) | open | decode | index build (cold, "
          "per file) | CPU ours | " + " | ".join(f"CPU {NAMES[v]}" for v in pyavs) +
          " | least PyAV CPU / ours |")
    print("|" + "---|" * (9 + len(pyavs)))
    print("\n".join(rows_steps))


if __name__ == "__main__":
    main()
