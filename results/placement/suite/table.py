#!/usr/bin/env python3
"""Markdown table of the imbalance tax per placement policy from epbench results files.

Usage: /usr/bin/python3 results/placement/suite/table.py results/placement/suite/*.json

One row per (file, policy): the balancedness the placement reaches on the loads it was computed
from (the warm-up window; summary.migration.per_event_window_balancedness_after), the realized
balancedness over the measured steps (summary.balancedness), the step's tax and the FFN
phase's tax (summary.tax.total / .ffn: median [95% CI] of the per-sample ratio measured span /
balanced reference span), the median step and the samples pooled.
"""
import json
import sys


def stat(s):
    return f"{s['median']:.2f} [{s['ci95'][0]:.2f}, {s['ci95'][1]:.2f}]"


def main(paths):
    print("| scenario | policy | balancedness, window | balancedness, measured | step tax | ffn tax "
          "| step (ms) | samples |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        sc = doc["scenario"]
        ctx = doc["context"]
        name = f"{sc.get('name', '?')} {sc.get('skew', '?')} np{ctx['num_ranks']}"
        if ctx.get("oversubscribed"):
            name += " (oversubscribed)"
        for run in doc["runs"]:
            s = run["summary"]
            policy = run["policy"] + (f"/{run['policy_used']}" if run["policy_used"] != run["policy"] else "")
            window = s.get("migration", {}).get("per_event_window_balancedness_after") or []
            planned = f"{window[0]:.3f}" if window else ""
            print(f"| {name} | {policy} | {planned} | {s['balancedness']:.3f} | {stat(s['tax']['total'])} | "
                  f"{stat(s['tax']['ffn'])} | {s['phases_us']['total']['median'] / 1000:.1f} | "
                  f"{s['tax']['total']['count']} |")


if __name__ == "__main__":
    main(sys.argv[1:])
