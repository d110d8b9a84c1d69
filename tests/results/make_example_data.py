#!/usr/bin/env python3
# Writes the synthetic example results files under tests/results/data/ (test data only: the
# numbers are modelled, not measured). Every derived field follows results/SCHEMA.md exactly, so
# `epbench validate` accepts them. Rerun after a schema change:
#   /usr/bin/python3 tests/results/make_example_data.py
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
PHASES = ["gate", "layout", "dispatch", "ffn", "combine", "total"]


def zipf_loads(rng, num_experts, rows, s=1.2):
    weights = [1.0 / (i + 1) ** s for i in range(num_experts)]
    rng.shuffle(weights)
    total = sum(weights)
    loads = [int(rows * w / total) for w in weights]
    loads[0] += rows - sum(loads)  # conserve rows exactly
    return loads


def placement(expert_loads, num_ranks, num_redundant):
    """Slot owner per expert copy: 'none' = experts in order; 'eplb' = hottest experts replicated
    (load split evenly), copies packed heaviest first onto the least-loaded rank with a free slot.
    Returns [(expert, share, rank)]."""
    E = len(expert_loads)
    if num_redundant == 0:
        per = E // num_ranks
        return [(e, 1.0, e // per) for e in range(E)]
    copies = [1] * E
    for _ in range(num_redundant):
        e = max(range(E), key=lambda i: expert_loads[i] / copies[i])
        copies[e] += 1
    items = sorted(((expert_loads[e] / copies[e], e) for e in range(E) for _ in range(copies[e])),
                   reverse=True)
    slots = (E + num_redundant) // num_ranks
    loads, used, out = [0.0] * num_ranks, [0] * num_ranks, []
    for load, e in items:
        r = min((r for r in range(num_ranks) if used[r] < slots), key=lambda r: loads[r])
        loads[r] += load
        used[r] += 1
        out.append((e, 1.0 / copies[e], r))
    return out


def step_rank_rows(rng, popularity, rows, place, num_ranks):
    """Rows each rank receives in one step: per-expert counts with sampling noise."""
    noisy = [p * rng.uniform(0.85, 1.15) for p in popularity]
    total = sum(noisy)
    counts = [int(rows * x / total) for x in noisy]
    counts[0] += rows - sum(counts)
    ranks = [0.0] * num_ranks
    for e, share, r in place:
        ranks[r] += counts[e] * share
    out = [int(x) for x in ranks]
    out[0] += rows - sum(out)  # conserve rows exactly
    return out


def stats(rng, median, spread):
    p99 = median * (1 + spread)
    return {"median": round(median, 3), "p99": round(p99, 3),
            "min": round(median * (1 - spread / 4), 3), "max": round(p99 * 1.04, 3)}


def make_run(rng, sc, ctx, policy, hw):
    R, L, k = ctx["num_ranks"], sc["num_layers"], sc["model"]["top_k"]
    H, F, E = sc["model"]["hidden"], sc["model"]["ffn"], sc["model"]["num_experts"]
    steps, T = sc["measured_steps"], sc["tokens_per_rank"]
    redundant = sc["num_redundant_experts"] if policy != "none" else 0
    rows = R * T * k  # every (token, k) copy of one layer step
    layers, per_layer_ranks, sum_mean, sum_max, bals = [], [], 0.0, 0.0, []
    for l in range(L):
        popularity = zipf_loads(rng, E, rows)
        place = placement(popularity, R, redundant)
        samples = [step_rank_rows(rng, popularity, rows, place, R) for _ in range(steps)]
        lmean = sum(sum(x) / R for x in samples)
        lmax = sum(max(x) for x in samples)
        sum_mean, sum_max = sum_mean + lmean, sum_max + lmax
        bals.append(lmean / lmax)
        per_layer_ranks.append([round(sum(x[r] for x in samples) / steps) for r in range(R)])
    row_bytes = 2 * H  # bf16 activations
    dispatch_bytes = T * k * row_bytes  # per dispatch, busiest rank (uniform sources here)
    phase_med = {p: [] for p in PHASES}
    for l, ranks in enumerate(per_layer_ranks):
        imb = 1.0 / bals[l]
        ffn_us = max(ranks) * 6.0 * H * F / (hw["tflops"] * 1e6)
        disp_us = dispatch_bytes / (hw["bw_GBps"] * 1e3) * (1 + 0.25 * (imb - 1)) + hw["lat_us"]
        med = {"gate": hw["gate_us"], "layout": hw["gate_us"] * 0.4, "dispatch": disp_us,
               "ffn": ffn_us, "combine": disp_us * 0.95}
        med["total"] = sum(med.values()) * 1.03
        for p in PHASES:
            phase_med[p].append(med[p])
        layers.append({"layer": l, "balancedness": round(bals[l], 6),
                       "imbalance_ratio": round(1.0 / bals[l], 6),
                       "tokens_per_rank": ranks,
                       "phases_us": {p: stats(rng, med[p], hw["noise"] * rng.uniform(0.6, 1.4))
                                     for p in PHASES}})
    summary_phases = {p: stats(rng, sorted(phase_med[p])[(L - 1) // 2] * rng.uniform(0.99, 1.01),
                               hw["noise"]) for p in PHASES}
    total_us = summary_phases["total"]["median"]
    ffn_us = summary_phases["ffn"]["median"]
    disp_us = summary_phases["dispatch"]["median"]
    algbw = dispatch_bytes / (disp_us * 1e-6) / 1e9
    tokens_received = [round(sum(per_layer_ranks[l][r] for l in range(L)) / L) for r in range(R)]
    # Per sample: bytes to other ranks (tokens spread uniformly over destinations here).
    send_bytes = [T * k * row_bytes * (R - 1) // R for _ in range(R)]
    nodes = ctx["rank_nodes"]
    intra = sum(T * k * row_bytes * sum(1 for d in range(R) if d != r and nodes[d] == nodes[r]) // R
                for r in range(R))
    per_rank_phase = {}
    for p in PHASES:
        base = summary_phases[p]["median"]
        if p == "ffn":
            per_rank_phase[p] = [round(base * tokens_received[r] / max(tokens_received), 3)
                                 for r in range(R)]
        elif p == "total":
            per_rank_phase[p] = [round(base * rng.uniform(0.995, 1.0), 3) for _ in range(R)]
        else:
            per_rank_phase[p] = [round(base * rng.uniform(0.9, 1.0), 3) for _ in range(R)]
    return {
        "policy": policy, "policy_used": "hierarchical" if policy == "eplb" else policy,
        "num_slots": E + redundant,
        "summary": {
            "balancedness": round(sum_mean / sum_max, 6),
            "balancedness_mean_layer": round(sum(x["balancedness"] for x in layers) / L, 6),
            "balancedness_min_layer": round(min(x["balancedness"] for x in layers), 6),
            "imbalance_ratio": round(sum_max / sum_mean, 6),
            "phases_us": summary_phases,
            "tokens_per_s": round(R * T / (total_us * 1e-6), 1),
            "ffn_gflops": round(R * T * k * 6.0 * H * F / (ffn_us * 1e-6) / 1e9, 3),
            "dispatch_bytes": dispatch_bytes,
            "dispatch_algbw_GBps": round(algbw, 4),
            "dispatch_busbw_GBps": round(algbw * (R - 1) / R, 4),
            "intra_node_bytes": intra, "inter_node_bytes": sum(send_bytes) - intra,
            "migration": {"events": 1 if policy != "none" else 0,
                          "bytes": 3 * H * F * 2 * redundant * L,
                          "inter_node_bytes": 0, "experts_moved": redundant * L,
                          "seconds": 0.0042 if policy != "none" else 0.0},
            "verify": {"checked_tokens": 32 * R * L, "wrong": 0, "max_rel_err": 0.0039,
                       "tokens_conserved": True, "migrated_experts_checked": redundant * L,
                       "migrated_experts_wrong": 0},
            "baselines": {"raw_alltoallv_us_median": round(disp_us * 0.9, 3),
                          "dispatch_vs_raw_alltoallv": 0.9, "ffn_gflops_per_rank": 0.0,
                          "sgemm_gflops_per_rank": 0.0, "ffn_vs_sgemm": 0.0},
        },
        "layers": layers,
        "per_rank": {"phase_us_median": per_rank_phase, "tokens_received": tokens_received,
                     "send_bytes": send_bytes},
    }


def context(hw, num_nodes, ranks_per_node, argv):
    R = num_nodes * ranks_per_node
    hosts = [f"{hw['host']}{n:02d}" for n in range(num_nodes)]
    rank_nodes = [r // ranks_per_node for r in range(R)]
    return {
        "argv": argv, "epbench_version": "0.1.0", "git_hash": "e2deee7",
        "date_utc": hw["date"], "num_ranks": R, "num_nodes": num_nodes,
        "ranks_per_node": ranks_per_node, "node_source": hw["node_source"],
        "rank_nodes": rank_nodes, "rank_hosts": [hosts[n] for n in rank_nodes], "hosts": hosts,
        "cpu_model": hw["cpu"], "gpu_models": hw["gpus"], "backend": hw["backend"],
        "comm": hw["comm"], "mpi_version": hw["mpi"], "cuda_version": hw["cuda"],
        "nccl_version": hw["nccl"], "kokkos_version": hw["kokkos"], "blas": hw["blas"],
        "interconnect": hw["interconnect"], "slurm": hw["slurm"](num_nodes, ranks_per_node),
        "time_reduction": "per step: max over ranks; then median and p99 over measured steps x "
                          "layers",
    }


def scenario(name, tokens_per_rank, policies, hidden, ffn, steps=20):
    return {
        "name": name,
        "model": {"hidden": hidden, "ffn": ffn, "num_experts": 64, "top_k": 6, "n_group": 8,
                  "topk_group": 3, "score": "softmax"},
        "tokens_per_rank": tokens_per_rank, "num_layers": 2, "warmup_steps": 5,
        "measured_steps": steps, "skew": "zipf:1.2", "drift": 0.0, "trace": None, "seed": 7,
        "replica_rule": "round-robin", "num_redundant_experts": 16, "window_steps": 10,
        "rebalance_every": 0, "verify": "sampled", "policies": policies,
    }


def slurm(cluster, partition):
    return lambda n, rpn: {"job_id": "48213" if cluster == "hopper" else "913377",
                           "job_name": "epbench", "num_nodes": n, "tasks_per_node": f"{rpn}(x{n})",
                           "partition": partition, "cluster": cluster}


H100 = dict(host="dgx", date="2026-11-20T14:03:11Z", node_source="slurm",
            cpu="Intel(R) Xeon(R) Platinum 8480+", gpus=["NVIDIA H100 80GB HBM3"] * 4,
            backend="cuda", comm="nccl", mpi="Open MPI v4.1.5", cuda="12.4", nccl="2.21.5",
            kokkos=None, blas="cuBLAS 12.4", interconnect="NVLink4 (NVSwitch)",
            slurm=slurm("hopper", "gpu"), tflops=220.0, bw_GBps=180.0, lat_us=12.0, gate_us=18.0,
            noise=0.06)
A100 = dict(host="a100n", date="2026-11-19T09:41:57Z", node_source="slurm",
            cpu="AMD EPYC 7742 64-Core Processor", gpus=["NVIDIA A100-SXM4-40GB"] * 4,
            backend="cuda", comm="nccl", mpi="Open MPI v4.1.4", cuda="12.2", nccl="2.19.3",
            kokkos=None, blas="cuBLAS 12.2", interconnect="InfiniBand HDR 200 Gb/s",
            slurm=slurm("ampere", "a100"), tflops=120.0, bw_GBps=22.0, lat_us=25.0, gate_us=30.0,
            noise=0.08)
CPU = dict(host="ws", date="2026-11-21T18:22:05Z", node_source="hostname",
           cpu="AMD Ryzen 9 7950X 16-Core Processor", gpus=[], backend="kokkos", comm="mpi",
           mpi="MPICH 4.0.2", cuda=None, nccl=None, kokkos="4.3.1", blas=None, interconnect=None,
           slurm=lambda n, rpn: None, tflops=0.35, bw_GBps=9.0, lat_us=4.0, gate_us=350.0,
           noise=0.12)


def write(path, doc):
    path = os.path.join(HERE, "data", path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def doc(rng, hw, nodes, rpn, sc):
    argv = ["epbench", "run", "--preset", sc["name"], "--tokens-per-rank",
            str(sc["tokens_per_rank"]), "--policies", ",".join(sc["policies"])]
    ctx = context(hw, nodes, rpn, argv)
    return {"schema": "epbench.results", "schema_version": 1, "context": ctx, "scenario": sc,
            "runs": [make_run(rng, sc, ctx, p, hw) for p in sc["policies"]]}


def main():
    rng = random.Random(2026)
    mini = scenario("ds-mini", 2048, ["none", "eplb"], 2048, 768)
    write("dgx-h100/ds-mini_np4.json", doc(rng, H100, 1, 4, mini))
    write("a100-cluster/ds-mini_np4.json", doc(rng, A100, 2, 2, mini))
    # CPU scaling set: weak (256 tokens per rank) and strong (1024 tokens in total).
    for ranks in (1, 2, 4):
        sc = scenario("tiny", 256, ["none", "eplb"], 256, 128, steps=10)
        write(f"workstation/tiny_weak_np{ranks}.json", doc(rng, CPU, 1, ranks, sc))
    for ranks in (1, 2):
        sc = scenario("tiny", 1024 // ranks, ["none", "eplb"], 256, 128, steps=10)
        write(f"workstation/tiny_strong_np{ranks}.json", doc(rng, CPU, 1, ranks, sc))
    # A file from a future epbench: schema_version 3 must be refused with a clear message.
    future = doc(rng, CPU, 1, 2, scenario("tiny", 256, ["eplb"], 256, 128, steps=10))
    future["schema_version"] = 3
    future["context"]["power_w"] = [310.5, 298.0]
    path = os.path.join(HERE, "bad", "schema_v3.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(future, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
