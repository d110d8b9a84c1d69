#!/usr/bin/python3
"""Summarizes a folder of simulated results (results/sim/study.sh) as a markdown table:
per skew, GPUs and policy (+ replica rule): median step time (sum of phase spans), FFN and
dispatch spans, the imbalance tax (span / balanced-reference span) of the FFN and the whole
step, balancedness, tokens/s per GPU, and migration per rebalance."""
import json
import os
import sys


def main(folder):
    rows = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(folder, name)) as f:
            doc = json.load(f)
        if not doc.get("simulated"):
            continue
        sc, ctx = doc["scenario"], doc["context"]
        for run in doc["runs"]:
            s = run["summary"]
            policy = run["policy"] + ("+" + sc["replica_rule"] if sc["replica_rule"] != "round-robin" else "")
            mig = s["migration"]
            rows.append((sc["skew"], ctx["num_ranks"], policy, sc["model"]["num_experts"],
                         s["phases_us"]["total"]["median"], s["phases_us"]["ffn"]["median"],
                         s["phases_us"]["dispatch"]["median"], s["tax"]["ffn"]["median"],
                         s["tax"]["total"]["median"], s["balancedness"],
                         s["tokens_per_s"] / ctx["num_ranks"],
                         mig["bytes"] / max(mig["events"], 1) / 1e9))
    rows.sort(key=lambda r: (r[0], r[2], r[1]))
    print(f"Profile: {doc['profile']['name']} ({doc['profile']['description']})\n")
    print("| skew | GPUs | policy | experts | step ms | ffn ms | dispatch ms | ffn tax | "
          "step tax | balancedness | tokens/s per GPU | GB moved per rebalance |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4] / 1e3:.2f} | {r[5] / 1e3:.2f} | "
              f"{r[6] / 1e3:.2f} | {r[7]:.2f} | {r[8]:.2f} | {r[9]:.3f} | {r[10]:.0f} | "
              f"{r[11]:.1f} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
