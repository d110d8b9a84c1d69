#!/usr/bin/env bash
# Measured runs for the simulator's validation (docs/simulate.md): the small preset on this
# machine at np 1, 2, 4, several skews and token counts, one and several emulated nodes (over
# loopback TCP), flat and node-dedup dispatch. Writes into results/sim/validation/measured/.
# Usage: results/sim/validation/measure.sh   (after building; about a minute on 2 idle cores)
# On a shared machine run it with priority (as root: nice -n -15 ...): the committed files were,
# because other processes' scheduling otherwise dominates the phase times.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
out=$root/results/sim/validation/measured
mkdir -p "$out"
run() {  # name np rpn btl -- epbench run options
  local name=$1 np=$2 rpn=$3 btl=$4
  shift 4
  [[ -e $out/$name.json ]] && return 0
  "$root/jobs/mpirun.sh" -n "$np" -r "$rpn" ${btl:+--btl "$btl"} -- --preset small --steps 20 \
    --label "sim-validation $name" --output "$out/$name.json" "$@" > /dev/null
}
# fit set
run fit-np1-zipf-t256          1 1 "" --skew zipf:1.2 --tokens-per-rank 256
run fit-np2-zipf-t512          2 2 "" --skew zipf:1.2 --tokens-per-rank 512
run fit-np2-uniform-t256       2 2 "" --skew uniform --tokens-per-rank 256
run fit-np2x1node-zipf-t256    2 1 self,tcp --skew zipf:1.2 --tokens-per-rank 256
# held-out set: other skews, token counts, rank counts, nodes, dispatch
run test-np1-hot-t1024         1 1 "" --skew hot:2:8 --tokens-per-rank 1024
run test-np2-hot-t256          2 2 "" --skew hot:2:8 --tokens-per-rank 256
run test-np2-zipf-t1024        2 2 "" --skew zipf:1.2 --tokens-per-rank 1024
run test-np4-zipf-t256         4 4 "" --skew zipf:1.2 --tokens-per-rank 256
run test-np4x2nodes-zipf-t256  4 2 self,tcp --skew zipf:1.2 --tokens-per-rank 256
run test-np2x1node-dedup-t512  2 1 self,tcp --skew zipf:0.8 --tokens-per-rank 512 --dispatch node-dedup
