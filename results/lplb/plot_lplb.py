#!/usr/bin/python3
"""Plots of the per-batch balancing comparison (results/lplb/run.sh): balancedness of rows
received per rank for every (step, layer) sample, and the median time per phase with the
replica rule's count exchange and solve, small and large batches side by side.

    /usr/bin/python3 results/lplb/plot_lplb.py results/lplb [-o results/lplb]
"""
import argparse
import json
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def configs(folder, size):
    """(label, run) per configuration, in the comparison's order."""
    found = {}
    for path in sorted(pathlib.Path(folder).glob(f"{size}-*.json")):
        doc = json.loads(path.read_text())
        rule = doc["scenario"]["replica_rule"]
        for run in doc["runs"]:
            policy = run["policy"]
            if policy == "none":
                label = "none"
            elif rule == "lplb":
                label = "lplb:cube + LPLB's LP"
            else:
                label = f"{policy}{':cube' if policy == 'lplb' else ''} + {rule}"
            found[label] = run
    order = ["none", "eplb + round-robin", "eplb + lp", "lplb:cube + lp", "lplb:cube + LPLB's LP"]
    return [(k, found[k]) for k in order if k in found]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args()
    out = pathlib.Path(args.output or args.folder)
    sizes = [s for s in ("small", "large") if configs(args.folder, s)]

    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        for label, run in configs(args.folder, size):
            bal = run["samples"]["balancedness"]
            ax.plot(range(len(bal)), bal, marker="o", ms=3, label=label)
        ax.set_title(f"{size} batches: balancedness per (step, layer) sample")
        ax.set_xlabel("sample (measured step x layer)")
        ax.set_ylabel("mean / max rows received per rank")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "balancedness_per_batch.png", dpi=120)
    print(out / "balancedness_per_batch.png")

    phases = ["layout", "dispatch", "ffn", "combine"]
    fig, axes = plt.subplots(1, len(sizes), figsize=(6.5 * len(sizes), 4), squeeze=False)
    for ax, size in zip(axes[0], sizes):
        runs = configs(args.folder, size)
        bottom = [0.0] * len(runs)
        parts = [("count exchange", lambda r: r["summary"]["replica_rule"]["count_exchange_us"]["median"]),
                 ("solve", lambda r: r["summary"]["replica_rule"]["solve_us"]["median"])]
        parts += [(p if p != "layout" else "layout (rest)",
                   (lambda p: lambda r: r["summary"]["phases_us"][p]["median"]
                    - (r["summary"]["replica_rule"]["count_exchange_us"]["median"]
                       + r["summary"]["replica_rule"]["solve_us"]["median"] if p == "layout" else 0))(p))
                  for p in phases]
        for name, value in parts:
            vals = [max(value(run), 0.0) for _, run in runs]
            ax.bar(range(len(runs)), vals, bottom=bottom, label=name)
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels([label for label, _ in runs], rotation=25, ha="right", fontsize=8)
        ax.set_title(f"{size} batches: median phase spans (8 ranks on 2 cores)")
        ax.set_ylabel("µs")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "time_per_phase.png", dpi=120)
    print(out / "time_per_phase.png")


if __name__ == "__main__":
    main()
