#!/usr/bin/env python3
"""Times DeepSeek's reference eplb.py on the DeepSeek-V3 shape of benchmarks/bench_placement and
checks the port against it on the same loads.

Usage: /usr/bin/python3 results/placement/time_eplb_py.py PATH/TO/eplb.py [--reps N]
           [--epbench build/src/app/epbench] [--workdir DIR]

Needs PyTorch (Debian: python3-torch) and the reference's eplb.py (github.com/deepseek-ai/EPLB;
not vendored here). The shape: 58 layers x 256 experts -> 288 replicas, 8 groups, on 4 nodes x
8 GPUs (hierarchical) and 3 nodes x 8 GPUs (global: 8 groups do not divide over 3 nodes); loads
zipf(1.0) (100000 / rank) with a random expert order per layer, as in the benchmark (another
random order: the Python and C++ generators differ; the reference's time hardly depends on it).

Prints one JSON line per shape: the reference's median and min seconds over N calls
(torch.get_num_threads() threads), and whether `epbench place --policy eplb` on the same loads
gives the same phy2log and logcnt, and else whether every GPU holds the same per-slot loads
(these zipf loads tie exactly after replication, e.g. 100000/2 split in two = 100000/4, and
torch's default sort does not keep tied items in index order while the port, like the
reference on the golden cases, does). Run it interleaved with bench_placement (results/README.md,
"Placement: EPLB vs minmax") so both see the same machine.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

LAYERS, EXPERTS, REPLICAS, GROUPS = 58, 256, 288, 8
SHAPES = {"hierarchical": (4, 32), "global": (3, 24)}


def load_reference(path):
    spec = importlib.util.spec_from_file_location("eplb_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def loads(seed=42):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(LAYERS):
        rank = rng.permutation(EXPERTS) + 1
        rows.append(100000.0 / rank)
    return np.array(rows)


def port_matches(epbench, weight, nodes, gpus, phy2log, logcnt, workdir):
    problem = os.path.join(workdir, f"problem-{nodes}x{gpus // nodes}.json")
    placed = os.path.join(workdir, f"placed-{nodes}x{gpus // nodes}.json")
    with open(problem, "w") as f:
        json.dump({"weight": weight.tolist(), "num_replicas": REPLICAS, "num_groups": GROUPS,
                   "num_nodes": nodes, "num_gpus": gpus}, f)
    if os.path.exists(placed):
        os.remove(placed)
    subprocess.run([epbench, "place", "--input", problem, "--policy", "eplb", "--output", placed],
                   check=True, stdout=subprocess.DEVNULL)
    with open(placed) as f:
        doc = json.load(f)
    ours, theirs = np.array(doc["phy2log"]), phy2log.numpy()
    same_slots = bool((ours == theirs).all()) and doc["logcnt"] == logcnt.tolist()

    # Per GPU, the sorted per-slot loads w[e] / count[e] in float32 (as EPLB compares them):
    # equal when the two differ only in which of several equally loaded replicas sits where.
    def slot_loads(p2l, counts):
        w32 = weight.astype(np.float32)
        per_slot = w32[np.arange(LAYERS)[:, None], p2l] / np.take_along_axis(
            np.array(counts), p2l, axis=1).astype(np.float32)
        return np.sort(per_slot.reshape(LAYERS, gpus, -1), axis=2)

    same_loads = bool((slot_loads(ours, doc["logcnt"]) == slot_loads(theirs, logcnt.numpy())).all())
    return {"phy2log_identical": same_slots, "gpu_slot_loads_identical": same_loads,
            "slots_differing": int((ours != theirs).sum())}


def time_shape(reference, tensor, nodes, gpus, reps):
    """Seconds of each of `reps` calls of eplb.py on one shape, and the last call's result."""
    seconds = []
    for _ in range(reps):
        start = time.perf_counter()
        result = reference.rebalance_experts(tensor, REPLICAS, GROUPS, nodes, gpus)
        seconds.append(time.perf_counter() - start)
    return seconds, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("eplb_py")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--epbench", default="build/src/app/epbench")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    reference = load_reference(args.eplb_py)
    weight = loads()
    workdir = args.workdir or tempfile.mkdtemp(prefix="eplb-py-")
    for policy, (nodes, gpus) in SHAPES.items():
        seconds, (phy2log, _, logcnt) = time_shape(reference, torch.tensor(weight), nodes, gpus,
                                                   args.reps)
        line = {"policy": policy, "nodes": nodes, "gpus": gpus, "reps": args.reps,
                "median_s": statistics.median(seconds), "min_s": min(seconds),
                "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
        if args.epbench and os.path.exists(args.epbench):
            line.update(port_matches(args.epbench, weight, nodes, gpus, phy2log, logcnt, workdir))
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
