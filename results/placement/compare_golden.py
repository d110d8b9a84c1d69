#!/usr/bin/python3
"""EPLB vs minmax over the golden EPLB cases: balancedness, lower bound, gap, time.

Runs `epbench place --policy P --input CASE --output ...` for every case in the golden folder
and both policies (each run `--repeat` times; the median algorithm time is kept), and writes
  golden-comparison.json  per case and layer: balancedness, max GPU load, lower bound, gap and
                          the policy's algorithm time; a summary over all layers
  golden-comparison.md    the summary and a per-case table (results/README.md quotes it)

Usage: /usr/bin/python3 results/placement/compare_golden.py \
           [--epbench build/src/app/epbench] [--golden ../shared/golden/eplb] [--out results/placement]
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

POLICIES = ["eplb", "minmax"]


def run_place(epbench, case, policy, out, threads):
    if os.path.exists(out):
        os.remove(out)  # `place` never overwrites a file
    cmd = [epbench, "place", "--input", case, "--policy", policy, "--output", out,
           "--threads", str(threads)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epbench", default=os.path.join(root, "build/src/app/epbench"))
    ap.add_argument("--golden", default=os.path.join(root, "../shared/golden/eplb"))
    ap.add_argument("--out", default=os.path.join(root, "results/placement"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    cases = sorted(f for f in os.listdir(args.golden) if f.endswith(".json"))
    if not cases:
        sys.exit(f"no golden cases in {args.golden}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in cases:
            path = os.path.join(args.golden, name)
            with open(path) as f:
                problem = json.load(f)
            entry = {"case": name[:-5], "layers": len(problem["weight"]),
                     "experts": len(problem["weight"][0]),
                     "replicas": problem["num_replicas"], "groups": problem["num_groups"],
                     "nodes": problem["num_nodes"], "gpus": problem["num_gpus"]}
            for policy in POLICIES:
                docs = [run_place(args.epbench, path, policy, os.path.join(tmp, "p.json"),
                                  args.threads) for _ in range(args.repeat)]
                doc = docs[0]
                entry["policy_used"] = doc["policy_used"]
                entry[policy] = {
                    "balancedness": doc["balancedness"],
                    "max_gpu_load": [max(g) for g in doc["gpu_loads"]],
                    "gap": doc["gap"],
                    "algorithm_seconds": statistics.median(d["algorithm_seconds"] for d in docs),
                }
                if "proven_optimal" in doc:
                    entry[policy]["proven_optimal"] = doc["proven_optimal"]
                entry["lower_bound"] = doc["lower_bound"]
            rows.append(entry)

    def layers(policy, key):
        return [x for r in rows for x in r[policy][key]]

    n = len(layers("eplb", "gap"))
    eplb_max, minmax_max = layers("eplb", "max_gpu_load"), layers("minmax", "max_gpu_load")
    summary = {
        "cases": len(rows), "layers": n,
        "layers_minmax_better": sum(m < e * (1 - 1e-9) for m, e in zip(minmax_max, eplb_max)),
        "layers_minmax_worse": sum(m > e for m, e in zip(minmax_max, eplb_max)),
        "layers_minmax_proven_optimal": sum(
            bool(p) or g <= 1e-9
            for p, g in zip(layers("minmax", "proven_optimal"), layers("minmax", "gap"))),
        "layers_eplb_at_bound": sum(g <= 1e-9 for g in layers("eplb", "gap")),
        "layers_eplb_gap_over_1pct": sum(g > 0.01 for g in layers("eplb", "gap")),
        "layers_minmax_gap_over_1pct": sum(g > 0.01 for g in layers("minmax", "gap")),
    }
    for policy in POLICIES:
        summary[policy] = {
            "mean_balancedness": statistics.mean(layers(policy, "balancedness")),
            "min_balancedness": min(layers(policy, "balancedness")),
            "mean_gap": statistics.mean(layers(policy, "gap")),
            "max_gap": max(layers(policy, "gap")),
            "total_algorithm_seconds": sum(r[policy]["algorithm_seconds"] for r in rows),
            "max_case_algorithm_seconds": max(r[policy]["algorithm_seconds"] for r in rows),
        }
    out = {"description": "EPLB vs minmax on the golden EPLB cases (epbench place)",
           "command": "/usr/bin/python3 results/placement/compare_golden.py",
           "machine": platform.node() and platform.processor() or platform.machine(),
           "cpus": os.cpu_count(), "threads": args.threads, "repeat": args.repeat,
           "summary": summary, "cases": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "golden-comparison.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")

    s = summary
    md = ["| policy | mean balancedness | min balancedness | mean gap to bound | max gap | "
          "layers gap > 1 % | time, all cases (ms) | slowest case (ms) |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for policy in POLICIES:
        p = s[policy]
        over = s[f"layers_{policy}_gap_over_1pct"]
        md.append(f"| {policy} | {p['mean_balancedness']:.4f} | {p['min_balancedness']:.4f} | "
                  f"{100 * p['mean_gap']:.2f} % | {100 * p['max_gap']:.2f} % | {over} / {n} | "
                  f"{1e3 * p['total_algorithm_seconds']:.2f} | "
                  f"{1e3 * p['max_case_algorithm_seconds']:.2f} |")
    md.append("")
    md.append(f"{s['cases']} cases, {n} layers: minmax better than EPLB on "
              f"{s['layers_minmax_better']}, worse on {s['layers_minmax_worse']}; minmax proven "
              f"optimal (exhaustive search finished or bound reached) on "
              f"{s['layers_minmax_proven_optimal']}; EPLB at the bound on "
              f"{s['layers_eplb_at_bound']}.")
    md.append("")
    md.append("| case | policy | layers | experts → replicas | GPUs / nodes | EPLB bal | minmax bal"
              " | EPLB gap | minmax gap | EPLB ms | minmax ms |")
    md.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        e, m = r["eplb"], r["minmax"]
        md.append(f"| {r['case']} | {r['policy_used']} | {r['layers']} | {r['experts']} → "
                  f"{r['replicas']} | {r['gpus']} / {r['nodes']} | "
                  f"{statistics.mean(e['balancedness']):.4f} | "
                  f"{statistics.mean(m['balancedness']):.4f} | "
                  f"{100 * statistics.mean(e['gap']):.2f} % | "
                  f"{100 * statistics.mean(m['gap']):.2f} % | "
                  f"{1e3 * e['algorithm_seconds']:.3f} | {1e3 * m['algorithm_seconds']:.3f} |")
    with open(os.path.join(args.out, "golden-comparison.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md[:5]))


if __name__ == "__main__":
    main()
