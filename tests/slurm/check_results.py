#!/usr/bin/env python3
"""Checks epbench results files written by the Slurm jobs of tests/slurm/test_local_slurm.sh.

  check_results.py run FILE [--nodes N] [--job-id ID] [--inter-node]
      valid "epbench.results" v2 JSON; verify.wrong == 0 and tokens conserved in every run;
      context.rank_nodes spans N distinct nodes; context.slurm.job_id == ID;
      --inter-node: inter_node_bytes > 0 in every run.
      --eplb-used P: the eplb run's policy_used is P (hierarchical needs the expert groups to
      divide the node count the suite saw, so "global" proves it saw the Slurm nodes).
  check_results.py hierarchical FILE
      runs of eplb (hierarchical) and eplb-global in one file: the hierarchical placement moves
      fewer node-deduplicated inter-node bytes
  check_results.py same-node FILE [--max-ratio R]
      with --replica-rule same-node, the eplb run (hot experts replicated onto other nodes)
      moves fewer than R (default 0.95) times the inter-node bytes of the none run.
Exit status 0 when every check passes, 1 otherwise (each failure on one line).
"""
import argparse
import json
import sys

failures = []


def fail(msg):
    failures.append(msg)


def load(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{path}: not readable JSON: {e}")
        return None
    if doc.get("schema") != "epbench.results" or doc.get("schema_version") != 2:
        fail(f"{path}: schema is {doc.get('schema')!r} v{doc.get('schema_version')!r}, "
             "expected 'epbench.results' v2")
    if not doc.get("runs"):
        fail(f"{path}: no runs")
    return doc


def check_run(args):
    doc = load(args.file)
    if doc is None:
        return
    ctx = doc.get("context", {})
    nodes = ctx.get("rank_nodes", [])
    if args.nodes is not None and len(set(nodes)) != args.nodes:
        fail(f"{args.file}: context.rank_nodes {nodes} spans {len(set(nodes))} nodes, "
             f"expected {args.nodes}")
    slurm = ctx.get("slurm") or {}
    if args.job_id is not None and str(slurm.get("job_id")) != str(args.job_id):
        fail(f"{args.file}: context.slurm.job_id is {slurm.get('job_id')!r}, expected {args.job_id}")
    for run in doc.get("runs", []):
        name = f"{args.file}: policy {run.get('policy')} ({run.get('policy_used')})"
        summary = run.get("summary", {})
        verify = summary.get("verify", {})
        if verify.get("wrong") != 0:
            fail(f"{name}: verify.wrong = {verify.get('wrong')}")
        if verify.get("checked_tokens", 0) <= 0:
            fail(f"{name}: verify.checked_tokens = {verify.get('checked_tokens')}")
        if verify.get("tokens_conserved") is not True:
            fail(f"{name}: tokens not conserved")
        if args.inter_node and not summary.get("inter_node_bytes", 0) > 0:
            fail(f"{name}: inter_node_bytes = {summary.get('inter_node_bytes')}, expected > 0")
        if args.eplb_used and run.get("policy") == "eplb" and run.get("policy_used") != args.eplb_used:
            fail(f"{name}: eplb policy_used is {run.get('policy_used')!r}, expected {args.eplb_used!r}")


def find_policy(doc, path, policy):
    for run in doc.get("runs", []):
        if run.get("policy") == policy:
            return run
    fail(f"{path}: no run of policy {policy}")
    return None


def check_same_node(args):
    doc = load(args.file)
    if doc is None:
        return
    base, eplb = find_policy(doc, args.file, "none"), find_policy(doc, args.file, "eplb")
    if base is None or eplb is None:
        return
    rule = doc.get("scenario", {}).get("replica_rule")
    if rule != "same-node":
        fail(f"{args.file}: scenario.replica_rule is {rule!r}, expected 'same-node'")
    ib, ie = base["summary"]["inter_node_bytes"], eplb["summary"]["inter_node_bytes"]
    print(f"inter-node bytes: none {ib}, eplb ({eplb.get('policy_used')}, same-node) {ie}, "
          f"ratio {ie / ib if ib else float('nan'):.3f} (must be < {args.max_ratio})")
    if not (ib > 0 and ie < args.max_ratio * ib):
        fail(f"{args.file}: eplb with same-node replicas does not cut inter-node bytes: "
             f"{ie} vs none {ib} (ratio must be < {args.max_ratio})")


def check_hierarchical(args):
    """Hierarchical EPLB (groups packed to nodes) vs EPLB's global policy in the same run: with
    group-limited routing a token's experts sit on fewer nodes, so a node-deduplicating dispatch
    moves fewer inter-node bytes."""
    doc = load(args.file)
    if doc is None:
        return
    hier, glob = find_policy(doc, args.file, "eplb"), find_policy(doc, args.file, "eplb-global")
    if hier is None or glob is None:
        return
    if hier.get("policy_used") != "hierarchical":
        fail(f"{args.file}: eplb policy_used is {hier.get('policy_used')!r}, expected hierarchical")
    # With --dispatch node-dedup these are the bytes actually sent; else what such a dispatch
    # would send.
    dedup = doc.get("scenario", {}).get("dispatch") == "node-dedup"
    key = "inter_node_bytes" if dedup else "inter_node_bytes_node_dedup"
    bh, bg = hier["summary"][key], glob["summary"][key]
    print(f"{key}: hierarchical {bh}, global {bg}")
    if not (0 < bh < bg):
        fail(f"{args.file}: hierarchical EPLB does not reduce inter-node bytes vs global: {bh} vs {bg}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("file")
    r.add_argument("--nodes", type=int)
    r.add_argument("--job-id")
    r.add_argument("--inter-node", action="store_true")
    r.add_argument("--eplb-used")
    c = sub.add_parser("same-node")
    c.add_argument("file")
    c.add_argument("--max-ratio", type=float, default=0.95)
    h = sub.add_parser("hierarchical")
    h.add_argument("file")
    args = p.parse_args()
    {"run": check_run, "same-node": check_same_node, "hierarchical": check_hierarchical}[args.cmd](args)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
