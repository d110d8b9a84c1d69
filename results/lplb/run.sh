#!/usr/bin/env bash
# The committed per-batch balancing comparison (docs/lplb.md): 8 MPI ranks emulated on this
# machine (oversubscribed: on the 2-core build machine times are contended, balancedness is
# not), small preset (16 experts, top-2), zipf:1.2 gating, 2 layers, small (32 tokens/rank)
# and large (512 tokens/rank) batches. Configurations:
#   none | eplb + round-robin | eplb + lp | lplb:cube + lp | lplb:cube + LPLB's own LP (lplb)
# eplb gets 16 redundant slots, as many as lplb's cube (2 per GPU): 32 slots each.
#   results/lplb/run.sh            # writes results/lplb/{small,large}-*.json
#   /usr/bin/python3 results/lplb/plot_lplb.py results/lplb
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
common=(--preset small --layers 2 --warmup 3 --steps 12 --skew zipf:1.2 --redundant-experts 16
        --verify sample:8)
for size in small:32 large:512; do
  name=${size%%:*} tokens=${size##*:}
  run() {  # label, then epbench options
    local label=$1; shift
    local out="$here/$name-$label.json"
    [[ -e $out ]] && { echo "exists: $out"; return; }
    "$root/jobs/mpirun.sh" -n 8 -- "${common[@]}" --tokens-per-rank "$tokens" \
      --label "$name $label" --output "$out" "$@"
  }
  run static --policies none,eplb --replica-rule round-robin
  run lp --policies eplb,lplb --replica-rule lp
  run lplb-lp --policies lplb --replica-rule lplb
done
