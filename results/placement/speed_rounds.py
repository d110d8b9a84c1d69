#!/usr/bin/env python3
"""The EPLB port's speed against DeepSeek's eplb.py, both timed in the same rounds.

Usage: /usr/bin/python3 results/placement/speed_rounds.py PATH/TO/eplb.py [--rounds N]
           [--bench build/benchmarks/bench_placement] [--epbench build/src/app/epbench]
           [--json OUT.json] [--markdown OUT.md]

Each round times eplb.py (5 calls, torch's default threads) on the DeepSeek-V3 shape of
time_eplb_py.py, then runs bench_placement's EPLB benchmarks (5 repetitions, each the mean real
time of many calls; 1 thread and all hardware threads) right after it, and records the load
average. A round's ratios compare the two in that round, median / median and min / min: the
machine's speed moves with its other jobs, within seconds, so numbers from different rounds are
not compared, and the minimum (the least disturbed call or repetition) is the steadier figure.
Before the rounds, the port's placements are checked against eplb.py's on these loads
(time_eplb_py.py).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import time_eplb_py  # noqa: E402

BENCHMARKS = {("hierarchical", 1): "BM_EplbHierarchical_DeepSeekV3_4x8/threads:1",
              ("hierarchical", 0): "BM_EplbHierarchical_DeepSeekV3_4x8/threads:0",
              ("global", 1): "BM_EplbGlobal_DeepSeekV3_3x8/threads:1",
              ("global", 0): "BM_EplbGlobal_DeepSeekV3_3x8/threads:0"}


def time_reference(reference, weight, reps):
    out = {}
    tensor = torch.tensor(weight)
    for policy, (nodes, gpus) in time_eplb_py.SHAPES.items():
        seconds, _ = time_eplb_py.time_shape(reference, tensor, nodes, gpus, reps)
        out[policy] = {"median": statistics.median(seconds), "min": min(seconds)}
    return out


def time_port(bench):
    run = subprocess.run([bench, "--benchmark_filter=BM_Eplb", "--benchmark_repetitions=5",
                          "--benchmark_format=json"], check=True, capture_output=True, text=True)
    doc = json.loads(run.stdout)
    assert {b["time_unit"] for b in doc["benchmarks"]} == {"us"}, "expected microseconds"
    out = {}
    for key, name in BENCHMARKS.items():
        # run_name carries a "/real_time" suffix (UseRealTime)
        reps = [b["real_time"] * 1e-6 for b in doc["benchmarks"]
                if b["run_name"].removesuffix("/real_time") == name
                and b.get("run_type") == "iteration"]
        assert len(reps) == 5, name
        out[key] = {"median": statistics.median(reps), "min": min(reps)}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("eplb_py")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--bench", default="build/benchmarks/bench_placement")
    parser.add_argument("--epbench", default="build/src/app/epbench")
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None)
    args = parser.parse_args()
    reference = time_eplb_py.load_reference(args.eplb_py)
    weight = time_eplb_py.loads()

    matches = {}
    tensor = torch.tensor(weight)
    with tempfile.TemporaryDirectory(prefix="eplb-speed-") as workdir:
        for policy, (nodes, gpus) in time_eplb_py.SHAPES.items():
            _, (phy2log, _, logcnt) = time_eplb_py.time_shape(reference, tensor, nodes, gpus, 1)
            matches[policy] = time_eplb_py.port_matches(args.epbench, weight, nodes, gpus,
                                                        phy2log, logcnt, workdir)

    rounds = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        ref = time_reference(reference, weight, args.reps)
        port = time_port(args.bench)
        row = {"round": r + 1, "load_average": load, "eplb_py_s": ref, "port_s": {}, "ratio": {}}
        for (policy, threads), seconds in port.items():
            label = f"{policy}/threads:{threads}"
            row["port_s"][label] = seconds
            row["ratio"][label] = {stat: ref[policy][stat] / seconds[stat]
                                   for stat in ("median", "min")}
        rounds.append(row)
        print(json.dumps(row), flush=True)

    labels = list(rounds[0]["ratio"])
    summary = {label: {stat: {"median": statistics.median(r["ratio"][label][stat] for r in rounds),
                              "min": min(r["ratio"][label][stat] for r in rounds),
                              "max": max(r["ratio"][label][stat] for r in rounds)}
                       for stat in ("median", "min")} for label in labels}
    doc = {"shape": "DeepSeek-V3: 58 layers x 256 experts -> 288 replicas, 8 groups; "
                    "hierarchical 4 nodes x 8 GPUs, global 3 nodes x 8 GPUs",
           "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
           "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           "reference_reps": args.reps, "port_repetitions": 5,
           "port_matches_eplb_py": matches, "rounds": rounds, "ratio_summary": summary}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("Times: median (min) of the round. Ratios: eplb.py / port, median / median "
                    "(min / min).\n\n")
            f.write("| round (load) | eplb.py hier. | port hier. 1 thread | ratio | port hier. "
                    "all threads | ratio | eplb.py global | port global 1 thread | ratio | "
                    "port global all threads | ratio |\n")
            f.write("| --- " * 11 + "|\n")
            for r in rounds:
                cells = [f"{r['round']} ({r['load_average']:.1f})"]
                for policy in ("hierarchical", "global"):
                    ref = r["eplb_py_s"][policy]
                    cells.append(f"{ref['median'] * 1e3:.0f} ({ref['min'] * 1e3:.0f}) ms")
                    for threads in (1, 0):
                        label = f"{policy}/threads:{threads}"
                        port, ratio = r["port_s"][label], r["ratio"][label]
                        cells.append(f"{port['median'] * 1e6:.0f} ({port['min'] * 1e6:.0f}) µs")
                        cells.append(f"{ratio['median']:.0f}× ({ratio['min']:.0f}×)")
                f.write("| " + " | ".join(cells) + " |\n")
            f.write("\nRatio over the rounds, median [lowest, highest]:\n\n")
            for label, stats in summary.items():
                f.write(f"- {label}: median / median {stats['median']['median']:.0f}× "
                        f"[{stats['median']['min']:.0f}, {stats['median']['max']:.0f}]; "
                        f"min / min {stats['min']['median']:.0f}× "
                        f"[{stats['min']['min']:.0f}, {stats['min']['max']:.0f}]\n")


if __name__ == "__main__":
    sys.exit(main())
