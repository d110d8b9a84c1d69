#!/usr/bin/env python3
"""Checks epbench results files written by the Slurm jobs of tests/slurm/test_local_slurm.sh.

  check_results.py run FILE [--nodes N] [--job-id ID] [--inter-node]
      valid "epbench.results" v1 JSON; verify.wrong == 0 and tokens conserved in every run;
      context.rank_nodes spans N distinct nodes; context.slurm.job_id == ID;
      --inter-node: inter_node_bytes > 0 in every run.
  check_results.py less-inter-node FILE_A FILE_B --policy P
      the run of policy P in FILE_A moves fewer inter-node bytes than the one in FILE_B;
      prints both and the policy_used of each.
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
    if doc.get("schema") != "epbench.results" or doc.get("schema_version") != 1:
        fail(f"{path}: schema is {doc.get('schema')!r} v{doc.get('schema_version')!r}, "
             "expected 'epbench.results' v1")
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


def find_policy(doc, path, policy):
    for run in doc.get("runs", []):
        if run.get("policy") == policy:
            return run
    fail(f"{path}: no run of policy {policy}")
    return None


def check_less_inter_node(args):
    a, b = load(args.file_a), load(args.file_b)
    if a is None or b is None:
        return
    ra, rb = find_policy(a, args.file_a, args.policy), find_policy(b, args.file_b, args.policy)
    if ra is None or rb is None:
        return
    ia, ib = ra["summary"]["inter_node_bytes"], rb["summary"]["inter_node_bytes"]
    print(f"{args.policy}: {ra.get('policy_used')} {ia} inter-node bytes vs "
          f"{rb.get('policy_used')} {ib}")
    if args.expect_a and ra.get("policy_used") != args.expect_a:
        fail(f"{args.file_a}: policy_used {ra.get('policy_used')!r}, expected {args.expect_a!r}")
    if args.expect_b and rb.get("policy_used") != args.expect_b:
        fail(f"{args.file_b}: policy_used {rb.get('policy_used')!r}, expected {args.expect_b!r}")
    if not ia < ib:
        fail(f"inter-node bytes not reduced: {ra.get('policy_used')} {ia} >= "
             f"{rb.get('policy_used')} {ib}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("file")
    r.add_argument("--nodes", type=int)
    r.add_argument("--job-id")
    r.add_argument("--inter-node", action="store_true")
    c = sub.add_parser("less-inter-node")
    c.add_argument("file_a")
    c.add_argument("file_b")
    c.add_argument("--policy", default="eplb")
    c.add_argument("--expect-a")
    c.add_argument("--expect-b")
    args = p.parse_args()
    (check_run if args.cmd == "run" else check_less_inter_node)(args)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
