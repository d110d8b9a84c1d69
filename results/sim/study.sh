#!/usr/bin/env bash
# The committed simulator study (README "Simulating large clusters", docs/simulate.md):
# DeepSeek-V3 layer shape (hidden 7168, expert FFN 2048, top-8 of 8 groups / top-4 groups,
# 4096 tokens per GPU), experts = max(256, GPUs) so the no-replica baseline exists at every
# size, 8 GPUs per node, one redundant slot per GPU, EP 8 -> 4096, zipf:1.2 and hot:8:10 skews
# drifting by one popularity rank every 20 steps (--drift 0.05), a 4-step statistics window and a
# rebalance every 5 steps, 10 measured steps after 4 warm-up steps.
# Policies: none, eplb and minmax (its search capped at 1 s per re-placement: at thousands of
# GPUs it would otherwise run for minutes), and eplb with the exact per-batch split
# (--replica-rule lp) as its own run.
#
#   results/sim/study.sh [PROFILE]        (default h200; writes results/sim/study/<profile>/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${EPBENCH_BIN:-$root/build/src/app/epbench}
profile=${1:-h200}
out=$root/results/sim/study/$profile
mkdir -p "$out"
policies=none,eplb,minmax
rules=(round-robin lp)
for skew in zipf:1.2 hot:8:10; do
  for gpus in 8 16 32 64 128 256 512 1024 2048 4096; do
    experts=$((gpus > 256 ? gpus : 256))
    for rule in "${rules[@]}"; do
      pol=$policies
      [[ $rule == lp ]] && pol=eplb
      name=$(echo "sim-$skew-g$gpus-$rule" | tr ':' '_')
      [[ -e $out/$name.json ]] && continue
      "$bin" simulate --preset deepseek-v3 --experts "$experts" --gpus "$gpus" \
        --gpus-per-node 8 --profile "$profile" --routing counts --skew "$skew" --drift 0.05 \
        --warmup 4 --window 4 --steps 10 --rebalance-every 5 --policies "$pol" \
        --replica-rule "$rule" --placement-time-budget-ms 1000 --label "sim-study $skew" --output "$out/$name.json" --quiet
    done
  done
done
/usr/bin/python3 "$root/results/sim/study_table.py" "$out" > "$out/summary.md"
/usr/bin/python3 "$root/results/plot.py" "$out" -o "$root/results/sim/plots/$profile" > /dev/null
echo "study: $out/summary.md, plots in results/sim/plots/$profile"
