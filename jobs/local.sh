#!/usr/bin/env bash
# The main job on one machine: installs missing packages, builds (Release), and runs the default
# benchmark: 4 MPI ranks (oversubscribed on small machines), the small preset with zipf:1.2
# skew, placement policies none and eplb side by side, one results file in results/local/.
# Extra arguments go to `epbench run` (e.g. --preset deepseek-v3 --tokens-per-rank 512).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/cmake/build.sh"
exec "$root/jobs/mpirun.sh" -n "${EPBENCH_NP:-4}" -- --preset small --skew zipf:1.2 \
  --policies none,eplb --output-dir "$root/results/local" "$@"
