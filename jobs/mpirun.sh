#!/usr/bin/env bash
# Runs `epbench run` with mpirun on this machine, optionally emulating several nodes (ranks are
# grouped into nodes of R consecutive ranks, passed to the suite as --ranks-per-node, so
# inter-node traffic is counted as on a real cluster). jobs/local.sh calls this.
#
#   jobs/mpirun.sh [-n NP] [-r R] [--btl LIST] [--dry-run] [--] [epbench run options...]
#   jobs/mpirun.sh -n 8 -r 2 -- --preset small --policies none,eplb
#
#   -n, --np NP               MPI ranks (default $EPBENCH_NP or 4)
#   -r, --ranks-per-node R    ranks per emulated node (default $EPBENCH_RANKS_PER_NODE, else all
#                             ranks on one node); R < NP emulates NP/R nodes
#   --btl LIST                Open MPI btl list, e.g. self,tcp (default $EPBENCH_MPI_BTL, else
#                             Open MPI's choice: one mpirun on one host may use shared memory
#                             between emulated nodes; self,tcp sends their traffic over loopback TCP)
#   --dry-run                 print the command instead of running it
# Environment: EPBENCH_BIN (default $EPBENCH_BUILD_DIR/src/app/epbench, EPBENCH_BUILD_DIR
# default <repo>/build), MPIRUN (default mpirun), EPBENCH_MPIRUN_ARGS (extra mpirun options).
# Adds --allow-run-as-root as root, --oversubscribe --bind-to none when NP exceeds the cores,
# and runs each rank with OPENBLAS_NUM_THREADS=1 (and OMP_NUM_THREADS=1) unless set.
# The exit status is epbench's (2 for bad input).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() { echo "mpirun.sh: $*" >&2; exit 2; }

np=${EPBENCH_NP:-4}
rpn=${EPBENCH_RANKS_PER_NODE:-}
btl=${EPBENCH_MPI_BTL:-}
dry_run=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -n | --np) [[ $# -ge 2 ]] || die "$1 needs a value"; np=$2; shift 2 ;;
    -r | --ranks-per-node) [[ $# -ge 2 ]] || die "$1 needs a value"; rpn=$2; shift 2 ;;
    --btl) [[ $# -ge 2 ]] || die "$1 needs a value"; btl=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) break ;;  # the first unknown option starts the epbench options
  esac
done
[[ "$np" =~ ^[1-9][0-9]*$ ]] || die "NP must be a positive integer, got '$np'"
[[ -z "$rpn" || "$rpn" =~ ^[1-9][0-9]*$ ]] || die "ranks per node must be a positive integer, got '$rpn'"

bin=${EPBENCH_BIN:-${EPBENCH_BUILD_DIR:-$root/build}/src/app/epbench}
if [[ ! -x "$bin" && $dry_run -eq 0 ]]; then
  die "epbench binary not found at $bin (build with cmake/build.sh, or set EPBENCH_BIN)"
fi

cores=$(nproc 2>/dev/null || echo 1)
cmd=("${MPIRUN:-mpirun}" -np "$np")
[[ $(id -u) -eq 0 ]] && cmd+=(--allow-run-as-root)
((np > cores)) && cmd+=(--oversubscribe --bind-to none)
[[ -n "$btl" ]] && cmd+=(--mca btl "$btl")
# shellcheck disable=SC2206
cmd+=(${EPBENCH_MPIRUN_ARGS:-})
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# One machine: Open MPI's TCP traffic (runtime and, with --btl tcp, data) stays on loopback.
export OMPI_MCA_btl_tcp_if_include=${OMPI_MCA_btl_tcp_if_include:-lo}
export OMPI_MCA_oob_tcp_if_include=${OMPI_MCA_oob_tcp_if_include:-lo}
cmd+=("$bin" run)
# Emulated nodes: only when the caller did not set --ranks-per-node among the epbench options.
if [[ -n "$rpn" && " $* " != *" --ranks-per-node "* && " $* " != *" --ranks-per-node="* ]]; then
  ((np % rpn == 0)) || echo "mpirun.sh: warning: $np ranks do not fill nodes of $rpn evenly" >&2
  cmd+=(--ranks-per-node "$rpn")
fi
# Ranks never see a terminal under mpirun: ask for the progress line when this script has one.
[[ -t 2 && " $* " != *" --progress "* ]] && cmd+=(--progress)
cmd+=("$@")

if ((dry_run)); then
  printf '%q ' "${cmd[@]}"
  echo
  exit 0
fi
# Inside a Slurm job SLURM_NODEID would override --ranks-per-node in the suite; a local mpirun
# is one node unless emulated, so it must not leak in.
unset SLURM_NODEID
exec "${cmd[@]}"
