#!/usr/bin/env python3
"""The EPLB port's speed against DeepSeek's eplb.py, both timed in the same rounds.

Usage: /usr/bin/python3 results/placement/speed_rounds.py PATH/TO/eplb.py [--rounds N]
           [--bench build/benchmarks/bench_placement] [--epbench build/src/app/epbench]
           [--json OUT.json] [--markdown OUT.md]

Each round times eplb.py (time_eplb_py.py: median of 5 calls, torch's default threads) on the
DeepSeek-V3 shape, then runs bench_placement's EPLB benchmarks (median of 5 repetitions, real
time, 1 thread and all hardware threads) right after it, and records the load average. The
ratio of a round is eplb.py's median / the port's median in that round: the machine's speed
moves with its other jobs, so only numbers from the same round are compared. The first round
also checks that the port gives eplb.py's placements on these loads (time_eplb_py.py).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

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
        seconds = []
        for _ in range(reps):
            start = time.perf_counter()
            reference.rebalance_experts(tensor, time_eplb_py.REPLICAS, time_eplb_py.GROUPS,
                                        nodes, gpus)
            seconds.append(time.perf_counter() - start)
        out[policy] = statistics.median(seconds)
    return out


def time_port(bench):
    run = subprocess.run([bench, "--benchmark_filter=BM_Eplb", "--benchmark_repetitions=5",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True)
    doc = json.loads(run.stdout)
    # run_name carries a "/real_time" suffix (UseRealTime)
    medians = {b["run_name"].removesuffix("/real_time"): b["real_time"] * 1e-6
               for b in doc["benchmarks"] if b.get("aggregate_name") == "median"}
    assert all(doc_unit == "us" for doc_unit in
               {b["time_unit"] for b in doc["benchmarks"]}), "expected microseconds"
    return {key: medians[name] for key, name in BENCHMARKS.items()}


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
    workdir = os.path.join("/tmp", f"eplb-speed-{os.getpid()}")
    os.makedirs(workdir, exist_ok=True)
    tensor = torch.tensor(weight)
    for policy, (nodes, gpus) in time_eplb_py.SHAPES.items():
        phy2log, _, logcnt = reference.rebalance_experts(
            tensor, time_eplb_py.REPLICAS, time_eplb_py.GROUPS, nodes, gpus)
        matches[policy] = time_eplb_py.port_matches(args.epbench, weight, nodes, gpus, phy2log,
                                                    logcnt, workdir)

    rounds = []
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        ref = time_reference(reference, weight, args.reps)
        port = time_port(args.bench)
        row = {"round": r + 1, "load_average": load, "eplb_py_s": ref, "port_s": {}, "ratio": {}}
        for (policy, threads), seconds in port.items():
            label = f"{policy}/threads:{threads}"
            row["port_s"][label] = seconds
            row["ratio"][label] = ref[policy] / seconds
        rounds.append(row)
        print(json.dumps(row), flush=True)

    labels = list(rounds[0]["ratio"])
    summary = {label: {"median": statistics.median(r["ratio"][label] for r in rounds),
                       "min": min(r["ratio"][label] for r in rounds),
                       "max": max(r["ratio"][label] for r in rounds)} for label in labels}
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
            f.write("| round (load) | eplb.py hier. | port hier. 1 thread | ratio | port hier. "
                    "all threads | ratio | eplb.py global | port global 1 thread | ratio | "
                    "port global all threads | ratio |\n")
            f.write("| --- " * 11 + "|\n")
            for r in rounds:
                cells = [f"{r['round']} ({r['load_average']:.1f})"]
                for policy in ("hierarchical", "global"):
                    cells.append(f"{r['eplb_py_s'][policy] * 1e3:.0f} ms")
                    for threads in (1, 0):
                        label = f"{policy}/threads:{threads}"
                        cells.append(f"{r['port_s'][label] * 1e6:.0f} µs")
                        cells.append(f"{r['ratio'][label]:.0f}×")
                f.write("| " + " | ".join(cells) + " |\n")
            f.write("\nRatio over the rounds, median [min, max]: " + "; ".join(
                f"{label} {s['median']:.0f}× [{s['min']:.0f}, {s['max']:.0f}]"
                for label, s in summary.items()) + ".\n")


if __name__ == "__main__":
    sys.exit(main())
