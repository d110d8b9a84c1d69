#!/usr/bin/python3
"""Migration-aware rebalancing: balance gained vs experts moved.

Yesterday's loads = jobs/examples/deepseek-v3-zipf.json (8 layers of the DeepSeek-V3 shape:
256 experts, 288 slots, 4 nodes x 8 GPUs); the cluster holds EPLB's placement for them. Today's
loads = yesterday's times exp(0.5 * N(0, 1)) per expert (seed 7). For each limit N on moved
experts per layer, `epbench place --policy minmax --current yesterday --max-moved-experts N`;
also EPLB and minmax from scratch (what a full rebalance moves). Writes migration-sweep.json
and migration-sweep.md beside this script.

Usage: /usr/bin/python3 results/placement/migration_sweep.py [--epbench build/src/app/epbench]
"""
import argparse
import json
import os
import random
import subprocess
import tempfile


def place(epbench, args, out):
    if os.path.exists(out):
        os.remove(out)  # `place` never overwrites a file
    subprocess.run([epbench, "place", *args, "--output", out], check=True,
                   stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def vllm_balancedness(doc):
    loads = doc["gpu_loads"]
    return sum(sum(g) / len(g) for g in loads) / sum(max(g) for g in loads)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epbench", default=os.path.join(root, "build/src/app/epbench"))
    args = ap.parse_args()
    with open(os.path.join(root, "jobs/examples/deepseek-v3-zipf.json")) as f:
        yesterday = json.load(f)
    rng = random.Random(7)
    today = dict(yesterday)
    today["weight"] = [[w * pow(2.718281828459045, 0.5 * rng.gauss(0, 1)) for w in row]
                       for row in yesterday["weight"]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        y_in, t_in = os.path.join(tmp, "yesterday.json"), os.path.join(tmp, "today.json")
        cur = os.path.join(tmp, "current.json")
        json.dump(yesterday, open(y_in, "w"))
        json.dump(today, open(t_in, "w"))
        place(args.epbench, ["--input", y_in, "--policy", "eplb"], cur)
        out = os.path.join(tmp, "out.json")

        def record(label, extra):
            doc = place(args.epbench, ["--input", t_in, "--current", cur, *extra], out)
            rows.append({"placement": label, "balancedness": vllm_balancedness(doc),
                         "mean_gap": doc["mean_gap"],
                         "moved_experts_per_layer": sum(doc["moved_experts"]) / len(doc["moved_experts"]),
                         "algorithm_seconds": doc["algorithm_seconds"]})

        # Yesterday's placement kept, under today's loads (each expert split over its copies).
        with open(cur) as f:
            held = json.load(f)
        gpus, maxima, means = held["num_gpus"], [], []
        for row, w in zip(held["phy2log"], today["weight"]):
            per_gpu = len(row) // gpus
            loads = [sum(w[e] / row.count(e) for e in row[g * per_gpu:(g + 1) * per_gpu])
                     for g in range(gpus)]
            maxima.append(max(loads))
            means.append(sum(loads) / gpus)
        rows.append({"placement": "keep yesterday's (eplb)", "balancedness": sum(means) / sum(maxima),
                     "mean_gap": None, "moved_experts_per_layer": 0.0, "algorithm_seconds": 0.0})
        for n in [0, 2, 4, 8, 16, 32, 64]:
            record(f"minmax, <= {n} moved", ["--policy", "minmax", "--max-moved-experts", str(n)])
        record("minmax, no limit (relabelled)", ["--policy", "minmax"])
        record("eplb from scratch", ["--policy", "eplb"])
    doc = {"description": __doc__.splitlines()[0], "command":
           "/usr/bin/python3 results/placement/migration_sweep.py", "rows": rows}
    with open(os.path.join(here, "migration-sweep.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    md = ["| placement | balancedness (all layers) | mean gap | experts moved per layer |",
          "| --- | --- | --- | --- |"]
    for r in rows:
        gap = "" if r["mean_gap"] is None else f"{100 * r['mean_gap']:.2f} %"
        md.append(f"| {r['placement']} | {r['balancedness']:.4f} | {gap} |"
                  f" {r['moved_experts_per_layer']:.1f} |")
    with open(os.path.join(here, "migration-sweep.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
