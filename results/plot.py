#!/usr/bin/python3
"""Plots a folder of epbench results files (results/SCHEMA.md) as PNGs.

    /usr/bin/python3 results/plot.py RESULTS_DIR [-o OUTDIR]

Reads every *.json under RESULTS_DIR (recursively; other JSON files and schema versions other than
1 and 2 are skipped with a message; runs where ranks outnumbered a host's cores are marked
"[oversubscribed]") and makes, where the data allows:
  scaling_weak_*.png / scaling_strong_*.png  tokens/s and parallel efficiency vs ranks
                                             (weak: fixed tokens per rank; strong: fixed total)
  balancedness_*.png      balancedness by skew (groups) and policy (bars)
  rank_load_*.png         tokens received per rank, per policy, for one run per machine
  phases_*.png            median time per phase, stacked, per run and policy, per machine
  compare_*.png           one scenario across machines: phase medians with whiskers (95 % CI of
                          the median in schema version 2 files, p99 in version 1)
  sim_scaling_*.png       simulated files (epbench simulate): step time and imbalance tax vs GPUs
                          per policy (+ replica rule), one figure per profile, model and skew
Figures without enough data are skipped; the script prints what it made. Exit code 2 when the
folder is missing or holds no results file. Needs matplotlib (Agg backend, no display).
"""
import argparse
import json
import os
import re
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCHEMA, VERSIONS = "epbench.results", (1, 2)
PHASES = ["gate", "layout", "dispatch", "ffn", "combine"]
PHASE_COLORS = {"gate": "#4e79a7", "layout": "#a0cbe8", "dispatch": "#f28e2b", "ffn": "#59a14f",
                "combine": "#e15759"}


def load(folder):
    docs = []
    for root, _, files in os.walk(folder):
        for name in sorted(files):
            if not name.endswith(".json"):
                continue
            path = os.path.join(root, name)
            try:
                with open(path) as f:
                    doc = json.load(f)
            except (OSError, ValueError) as e:
                print(f"skip {path}: {e}")
                continue
            if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
                print(f"skip {path}: not an {SCHEMA} file")
                continue
            if doc.get("schema_version") not in VERSIONS:
                print(f"skip {path}: schema_version {doc.get('schema_version')} "
                      f"(this script reads {', '.join(map(str, VERSIONS))})")
                continue
            doc["_path"] = os.path.relpath(path, folder)
            docs.append(doc)
    return docs


def hardware(doc):
    """The machine, marked when more ranks than cores shared a host (times show contention)."""
    ctx = doc["context"]
    label = ctx["gpu_models"][0] if ctx["gpu_models"] else ctx["cpu_model"]
    label += f", {ctx['interconnect']}" if ctx.get("interconnect") else ""
    return label + (" [oversubscribed]" if ctx.get("oversubscribed") else "")


def upper_whisker(stats):
    """Version 2: the 95 % CI of the median; version 1: p99."""
    if "ci95" in stats:
        return stats["ci95"][1] - stats["median"]
    return stats["p99"] - stats["median"]


def model_label(sc):
    m = sc["model"]
    return (f"{sc['name']} (H{m['hidden']} F{m['ffn']} E{m['num_experts']} top{m['top_k']}, "
            f"groups {m['topk_group']}/{m['n_group']}, {sc['num_layers']} layers)")


def scenario_fields(doc, *, ranks=True, tokens=True):
    """The scenario identity, as in `epbench compare`'s scenario_key (policy handled apart)."""
    sc, m = doc["scenario"], doc["scenario"]["model"]
    key = (m["hidden"], m["ffn"], m["num_experts"], m["top_k"], m["n_group"], m["topk_group"],
           m["score"], sc["num_layers"], sc["skew"], sc["drift"], sc["trace"],
           sc["num_redundant_experts"], sc["replica_rule"], sc["window_steps"],
           sc["rebalance_every"], sc.get("dispatch", "flat"))
    if ranks:
        key += (doc["context"]["num_ranks"],)
    if tokens:
        key += (sc["tokens_per_rank"],)
    return key


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60]


def save(fig, outdir, name, made):
    path = os.path.join(outdir, name + ".png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    made.append(path)


def plot_scaling(docs, outdir, made):
    # Per machine and scenario (ranks and tokens free): points (ranks, tokens/rank, policy, tok/s).
    groups = defaultdict(list)
    for d in docs:
        for run in d["runs"]:
            groups[(hardware(d), scenario_fields(d, ranks=False, tokens=False))].append(
                (d["context"]["num_ranks"], d["scenario"]["tokens_per_rank"], run["policy"],
                 run["summary"]["tokens_per_s"], d))
    for (hw, _), points in groups.items():
        series = {"weak": defaultdict(list), "strong": defaultdict(list)}
        for ranks, tpr, policy, tps, d in points:
            series["weak"][(tpr, policy)].append((ranks, tps))
            series["strong"][(ranks * tpr, policy)].append((ranks, tps))
        sc = points[0][4]["scenario"]
        for kind, lines in series.items():
            lines = {k: v for k, v in lines.items() if len({r for r, _ in v}) >= 2}
            if kind == "strong":  # a strong series must vary tokens per rank
                lines = {k: v for k, v in lines.items() if len({k[0] // r for r, _ in v}) >= 2}
            if not lines:
                continue
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
            for (size, policy), pts in sorted(lines.items()):
                by_ranks = defaultdict(list)
                for r, tps in pts:
                    by_ranks[r].append(tps)
                xs = sorted(by_ranks)
                ys = [statistics.median(by_ranks[r]) for r in xs]
                what = f"{size} tokens/rank" if kind == "weak" else f"{size} tokens total"
                label = f"{policy}, {what}"
                ax1.plot(xs, ys, marker="o", label=label)
                eff = [(y / x) / (ys[0] / xs[0]) for x, y in zip(xs, ys)]
                ax2.plot(xs, [100 * e for e in eff], marker="o", label=label)
            for ax in (ax1, ax2):
                ax.set_xscale("log", base=2)
                ax.set_xlabel("MPI ranks")
                ax.set_xticks(sorted({r for v in lines.values() for r, _ in v}))
                ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
                ax.grid(alpha=0.3)
            ax1.set_ylabel("tokens/s (one MoE layer, all ranks)")
            ax1.set_title("Throughput")
            ax2.set_ylabel("parallel efficiency (%)")
            ax2.set_title("Efficiency vs the smallest run (per-rank tokens/s)")
            ax2.axhline(100, color="gray", lw=0.8, ls="--")
            ax2.set_ylim(bottom=0)
            ax1.legend(fontsize=8)
            fig.suptitle(f"{kind.capitalize()} scaling: {model_label(sc)}\n{hw}", fontsize=10)
            save(fig, outdir, f"scaling_{kind}_{slug(hw)}_{slug(sc['name'])}", made)


def grouped_bars(ax, categories, series, values, ylabel):
    width = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        xs = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
        ys = [values.get((cat, s), float("nan")) for cat in categories]
        bars = ax.bar(xs, ys, width, label=s)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories)
    ax.set_ylabel(ylabel)


def plot_balancedness(docs, outdir, made):
    # Per model: groups = (skew, ranks, nodes), bars = policy; repeated runs are averaged.
    # Nodes matter: hierarchical EPLB replicates only within a node.
    groups = defaultdict(lambda: defaultdict(list))
    for d in docs:
        sc = d["scenario"]
        category = (sc["skew"], d["context"]["num_ranks"], d["context"]["num_nodes"])
        for run in d["runs"]:
            groups[model_label(sc)][(category, run["policy"])].append(
                run["summary"]["balancedness"])
    for model, vals in groups.items():
        cats = sorted({c for c, _ in vals})
        policies = sorted({p for _, p in vals}, key=lambda p: (p != "none", p))
        if len(cats) * len(policies) < 2:
            continue
        labels = [f"{skew}\n{ranks} rank{'s' if ranks > 1 else ''}, {nodes} node{'s' if nodes > 1 else ''}"
                  for skew, ranks, nodes in cats]
        means = {(labels[cats.index(c)], p): statistics.mean(v) for (c, p), v in vals.items()}
        fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(cats) * len(policies) + 2), 4))
        grouped_bars(ax, labels, policies, means, "balancedness (mean / max tokens per rank)")
        ax.set_xlabel("routing skew, ranks and nodes")
        ax.set_ylim(0, 1.12)
        ax.axhline(1, color="gray", lw=0.8, ls="--")
        ax.legend(title="policy", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_title(f"Balancedness by policy and skew (1 = perfect)\n{model}", fontsize=10)
        save(fig, outdir, f"balancedness_{slug(model)}", made)


def plot_rank_load(docs, outdir, made):
    # One figure per (machine, model, ranks, nodes): the newest file of each (by date).
    best = {}
    for d in docs:
        ctx = d["context"]
        if ctx["num_ranks"] < 2 or ctx["num_ranks"] > 256:  # > 256 bars: unreadable (simulated)
            continue
        key = (hardware(d), d["scenario"]["name"], ctx["num_ranks"], ctx["num_nodes"])
        if key not in best or ctx["date_utc"] > best[key]["context"]["date_utc"]:
            best[key] = d
    for (hw, name, R, nodes), d in sorted(best.items()):
        fig, ax = plt.subplots(figsize=(max(7, 0.5 * R * len(d["runs"]) + 2), 4.3))
        width = 0.8 / len(d["runs"])
        for i, run in enumerate(d["runs"]):
            tokens = run["per_rank"]["tokens_received"]
            xs = [r + (i - (len(d["runs"]) - 1) / 2) * width for r in range(R)]
            bars = ax.bar(xs, tokens, width,
                          label=f"{run['policy']} (balancedness "
                                f"{run['summary']['balancedness']:.3f})")
            ax.axhline(sum(tokens) / R, color=bars.patches[0].get_facecolor(), lw=0.8, ls="--")
        ax.set_xticks(range(R))
        ax.set_xlabel("rank (dashed: mean)")
        ax.set_ylabel("token rows received per layer step")
        ax.legend(fontsize=8)
        ax.set_title(f"Load per rank: {model_label(d['scenario'])}\n{hw}, {R} ranks on {nodes} "
                     f"node{'s' if nodes > 1 else ''}, skew {d['scenario']['skew']}\n{d['_path']}",
                     fontsize=9)
        save(fig, outdir, f"rank_load_{slug(hw)}_{slug(name)}_np{R}_nodes{nodes}", made)


def plot_phases(docs, outdir, made):
    by_hw = defaultdict(list)
    for d in docs:
        for run in d["runs"]:
            by_hw[hardware(d)].append((d, run))
    for hw, runs in by_hw.items():
        runs.sort(key=lambda dr: (dr[0]["scenario"]["name"], dr[0]["context"]["num_ranks"],
                                  dr[0]["scenario"]["tokens_per_rank"], dr[1]["policy"]))
        labels = [f"{d['scenario']['name']} np{d['context']['num_ranks']}\n"
                  f"{d['scenario']['tokens_per_rank']} tok/rank\n{run['policy']}"
                  for d, run in runs]
        fig, ax = plt.subplots(figsize=(max(5, 1.0 * len(runs) + 2.5), 4.6))
        bottom = [0.0] * len(runs)
        for phase in PHASES:
            ys = [run["summary"]["phases_us"][phase]["median"] for _, run in runs]
            ax.bar(range(len(runs)), ys, 0.6, bottom=bottom, label=phase,
                   color=PHASE_COLORS[phase])
            bottom = [b + y for b, y in zip(bottom, ys)]
        totals = [run["summary"]["phases_us"]["total"]["median"] for _, run in runs]
        ax.scatter(range(len(runs)), totals, marker="_", s=400, color="black", zorder=3,
                   label="total (median)")
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("median time per layer step (µs, max over ranks)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        ax.set_title(f"Phase breakdown: {hw}\n(stacked phase medians; their sum can differ from "
                     "the median of the total)", fontsize=10)
        save(fig, outdir, f"phases_{slug(hw)}", made)


def plot_comparisons(docs, outdir, made):
    groups = defaultdict(dict)  # scenario -> machine -> doc
    for d in docs:
        groups[scenario_fields(d)].setdefault(hardware(d), d)
    for _, by_hw in groups.items():
        if len(by_hw) < 2:
            continue
        first = next(iter(by_hw.values()))
        policies = [r["policy"] for r in first["runs"]]
        fig, axes = plt.subplots(1, len(policies), figsize=(5.5 * len(policies), 4.2),
                                 squeeze=False)
        for ax, policy in zip(axes[0], policies):
            hws = [hw for hw, d in by_hw.items() if any(r["policy"] == policy for r in d["runs"])]
            width = 0.8 / len(hws)
            for i, hw in enumerate(hws):
                run = next(r for r in by_hw[hw]["runs"] if r["policy"] == policy)
                ph = run["summary"]["phases_us"]
                names = PHASES + ["total"]
                xs = [p + (i - (len(hws) - 1) / 2) * width for p in range(len(names))]
                med = [ph[n]["median"] for n in names]
                err = [[0] * len(names), [upper_whisker(ph[n]) for n in names]]
                ctx = by_hw[hw]["context"]
                ax.bar(xs, med, width, yerr=err, capsize=2,
                       label=f"{hw} ({ctx['num_nodes']}x{ctx['ranks_per_node']})")
            ax.set_xticks(range(len(PHASES) + 1))
            ax.set_xticklabels(PHASES + ["total"])
            ax.set_ylabel("median time (µs); whisker: 95% CI (v2) or p99 (v1)")
            ax.set_title(f"policy {policy}", fontsize=10)
            ax.legend(fontsize=7)
        sc = first["scenario"]
        fig.suptitle(f"Same scenario across machines: {model_label(sc)}, "
                     f"{first['context']['num_ranks']} ranks, {sc['tokens_per_rank']} tokens/rank, "
                     f"skew {sc['skew']}", fontsize=10)
        save(fig, outdir, f"compare_{slug(sc['name'])}_np{first['context']['num_ranks']}_"
                          f"t{sc['tokens_per_rank']}", made)


def plot_sim_scaling(docs, outdir, made):
    # Simulated runs only: per (profile, model, skew) a line per policy over GPUs.
    groups = defaultdict(lambda: defaultdict(list))
    for d in docs:
        if not d.get("simulated"):
            continue
        sc = d["scenario"]
        rule = sc["replica_rule"]
        for run in d["runs"]:
            label = run["policy"] + ("" if rule == "round-robin" else f" + {rule}")
            groups[(d["profile"]["name"], sc["name"], sc["skew"], sc["drift"])][label].append(
                (d["context"]["num_ranks"], run["summary"]["phases_us"]["total"]["median"] / 1e3,
                 run["summary"].get("tax", {}).get("total", {}).get("median", float("nan"))))
    for (profile, model, skew, drift), lines in groups.items():
        if max(len(v) for v in lines.values()) < 2:
            continue
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for label, pts in sorted(lines.items()):
            pts.sort()
            ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
            ax2.plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=label)
        for ax in (ax1, ax2):
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("GPUs (expert-parallel ranks)")
            ax.grid(True, alpha=0.3)
        ax1.set_ylabel("predicted step time, ms (sum of phase spans)")
        ax2.set_ylabel("imbalance tax (step / balanced step)")
        ax2.legend(loc="upper left", fontsize=8)
        fig.suptitle(f"SIMULATED ({profile} profile): {model}, skew {skew}, drift {drift}",
                     fontsize=10)
        save(fig, outdir, f"sim_scaling_{slug(profile)}_{slug(model)}_{slug(skew)}", made)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results_dir", help="folder of results files (scanned recursively)")
    parser.add_argument("-o", "--outdir", default="plots", help="folder for the PNGs")
    args = parser.parse_args()
    if not os.path.isdir(args.results_dir):
        print(f"plot.py: error: {args.results_dir} is not a folder", file=sys.stderr)
        return 2
    docs = load(args.results_dir)
    if not docs:
        print(f"plot.py: error: no {SCHEMA} v{VERSION} file under {args.results_dir}",
              file=sys.stderr)
        return 2
    try:
        os.makedirs(args.outdir, exist_ok=True)
    except OSError as e:  # a file in the way, no permission: one line, exit 2 (bad input)
        print(f"plot.py: error: cannot create output folder {args.outdir}: {e.strerror}",
              file=sys.stderr)
        return 2
    made = []
    for plot in (plot_scaling, plot_balancedness, plot_rank_load, plot_phases, plot_comparisons,
                 plot_sim_scaling):
        plot(docs, args.outdir, made)
    print(f"read {len(docs)} results files; made {len(made)} figures:")
    for path in made:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
