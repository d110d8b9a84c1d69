#!/usr/bin/python3
"""Fits the simulator's per-link alpha-beta dispatch model (docs/simulate.md) to DeepEP V1's
published low-latency dispatch table at its two smallest EP sizes and predicts the larger ones.

Source: deepseek-ai/DeepEP docs/legacy.md, "Low-latency kernels with pure RDMA": H800 + CX7
400 Gb/s, 128 tokens per rank, hidden 7168, top-8, FP8 dispatch (7168 bytes + 56 fp32 scales
per row). Model (cost_model.hpp, links overlapping): t = max(intra bytes / beta_intra,
inter bytes / beta_inter), 8 GPUs per node, every token's 8 rows spread uniformly over ranks
(so a fraction (EP - 8) / EP of a rank's rows leaves the node). EP 8 fixes beta_intra, EP 16
then fixes beta_inter; EP 32 .. 256 are predictions.
"""
published_us = {8: 77, 16: 118, 32: 155, 64: 173, 128: 192, 256: 194}
row_bytes = 7168 + 56 * 4
rank_bytes = 128 * 8 * row_bytes


def split(ep):
    inter = rank_bytes * max(ep - 8, 0) / ep
    intra = rank_bytes * (min(ep, 8) - 1) / ep
    return intra, inter


intra8, _ = split(8)
beta_intra = intra8 / (published_us[8] * 1e-6) / 1e9
_, inter16 = split(16)
beta_inter = inter16 / (published_us[16] * 1e-6) / 1e9
print(f"fitted: beta_intra {beta_intra:.0f} GB/s (EP 8), beta_inter {beta_inter:.1f} GB/s (EP 16)\n")
print("| EP | published us | predicted us | error |")
print("|---:|---:|---:|---:|")
for ep, us in published_us.items():
    intra, inter = split(ep)
    pred = max(intra / (beta_intra * 1e3), inter / (beta_inter * 1e3))
    tag = " (fit)" if ep <= 16 else ""
    print(f"| {ep}{tag} | {us} | {pred:.0f} | {100 * (pred - us) / us:+.0f}% |")
