#!/usr/bin/env bash
# End-to-end test of the sbatch scripts on a real local Slurm cluster (ctest label "slurm").
# Starts jobs/slurm/local-cluster.sh (4 emulated nodes) in a temporary state folder, submits the
# repository's jobs/*.sbatch files unchanged (only sizes, via sbatch options, environment and
# epbench options), waits for them with a bounded squeue poll, checks their states and results,
# and always stops the cluster (trap), also on failure or interruption.
#
#   tests/slurm/test_local_slurm.sh [--root REPO] [--bin EPBENCH] [--keep]
#
# Jobs: single-node-cpu (1 node x 4 ranks); multi-node-cpu (4 nodes x 1 rank) twice: 4 expert
# groups (divisible by the 4 nodes: EPLB must choose hierarchical) and 2 groups (global; only
# right if the suite saw the 4 Slurm nodes, which share one host name), both with
# --replica-rule same-node; the 2-group job again under mpirun; and a bad-input job (top-k >
# experts) that must FAIL with exit code 2 and the suite's error in its output. Exit 77
# (ctest: skipped) when Slurm is missing and cannot be installed (not root).
#
# Inter-node traffic checks: (1) the 4-group job runs the node-deduplicating dispatch (each
# token sent once per remote node, then forwarded inside it, as DeepEP's internode dispatch
# does) and also eplb-global: with group-limited routing (top-1 group) hierarchical EPLB keeps
# each token's experts on one node, so its inter-node bytes must be lower than global's. (2) Per-row traffic: global EPLB
# replicating hot experts onto other nodes with same-node replica choice must move < 0.95x the
# inter-node bytes of the none run (about 0.85 here; round-robin gives about 1.0).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=
keep=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
bin=${bin:-${EPBENCH_BIN:-$root/build/src/app/epbench}}
wait_timeout=${EPBENCH_SLURM_TEST_WAIT:-150}

log() { echo "[slurm-test $(date -u +%H:%M:%S)] $*"; }
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

if ! command -v sbatch >/dev/null 2>&1 || ! command -v slurmctld >/dev/null 2>&1; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "SKIP: Slurm is not installed and cannot be installed here (needs root and apt-get)"
    exit 77
  fi
fi
[[ -x "$bin" ]] || { echo "FAIL: epbench binary not found at $bin"; exit 1; }
if ! "$bin" run --help >/dev/null 2>&1; then
  echo "FAIL: $bin has no 'run' subcommand"
  exit 1
fi

state=$(mktemp -d /tmp/epbench-slurm-test.XXXXXX)
cleanup() {
  "$root/jobs/slurm/local-cluster.sh" stop --dir "$state" || true
  if ((keep)); then log "kept $state"; else rm -rf "$state"; fi
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

log "starting the local cluster in $state"
if ! env_line=$("$root/jobs/slurm/local-cluster.sh" start --dir "$state" --nodes 4); then
  echo "FAIL: local cluster did not start"
  exit 1
fi
eval "$env_line"
export SLURM_CONF EPBENCH_BIN=$bin EPBENCH_ROOT=$root EPBENCH_RESULTS_ROOT=$state/results
mkdir -p "$state/out"

# Tiny shapes: 16 experts, top-2 within 1 of the groups; a few steps; every token verified.
# shellcheck disable=SC2054  # "none,eplb" is one argument
tiny=(--hidden 64 --ffn 128 --experts 16 --top-k 2 --topk-groups 1 --tokens-per-rank 64
      --layers 2 --warmup 2 --steps 3 --skew zipf:1.2 --policies none,eplb --verify all --seed 7)

submit() {  # submit SBATCH_OPTIONS... SCRIPT [epbench options]: prints the job id
  (cd "$root" && sbatch --parsable --time=3 --output="$state/out/%x-%j.out" "$@")
}
job_single=$(submit -N 1 --ntasks-per-node=4 --overcommit jobs/single-node-cpu.sbatch "${tiny[@]}" --groups 4)
job_hier=$(submit -N 4 --ntasks-per-node=1 --overcommit jobs/multi-node-cpu.sbatch "${tiny[@]}" --groups 4 --replica-rule same-node --policies none,eplb,eplb-global --dispatch node-dedup)
job_global=$(submit -N 4 --ntasks-per-node=1 --overcommit jobs/multi-node-cpu.sbatch "${tiny[@]}" --groups 2 --replica-rule same-node)
job_mpirun=$(EPBENCH_LAUNCH=mpirun submit -N 4 --ntasks-per-node=1 --overcommit jobs/multi-node-cpu.sbatch "${tiny[@]}" --groups 2 --replica-rule same-node)
job_bad=$(submit -N 2 --ntasks-per-node=1 --overcommit jobs/multi-node-cpu.sbatch --preset small --experts 4 --top-k 8)
all_jobs=("$job_single" "$job_hier" "$job_global" "$job_mpirun" "$job_bad")
for j in "${all_jobs[@]}"; do
  [[ "$j" =~ ^[0-9]+$ ]] || { echo "FAIL: sbatch did not return a job id (got '$j')"; exit 1; }
done
log "submitted jobs: single $job_single, hierarchical $job_hier, global $job_global, mpirun $job_mpirun, bad input $job_bad"

deadline=$((SECONDS + wait_timeout))
ids=$(IFS=,; echo "${all_jobs[*]}")
while [[ -n "$(squeue -h -j "$ids" -o %i 2>/dev/null)" ]]; do
  if ((SECONDS >= deadline)); then
    fail "jobs still queued or running after ${wait_timeout} s:"
    squeue -j "$ids"
    for j in "${all_jobs[@]}"; do scontrol show job "$j" | grep -E 'JobState|Reason'; done
    scancel "${all_jobs[@]}" 2>/dev/null
    break
  fi
  sleep 1
done
log "jobs finished after $((SECONDS)) s"

job_field() { scontrol show job "$1" 2>/dev/null | grep -o "$2=[^ ]*" | head -n 1 | cut -d= -f2; }
job_out() { ls "$state/out/"*"-$1.out" 2>/dev/null | head -n 1; }
show_out() { local f; f=$(job_out "$1"); [[ -n "$f" ]] && { echo "--- $f"; cat "$f"; }; }
results_of() { ls "$state/results/epbench/$1/"*.json 2>/dev/null; }

# expect_ok JOB WHAT NODES [check_results.py run options]: COMPLETED 0:0, one results file that
# passes the checks; sets ok_file to it (empty when there is none). Not in a subshell: fail counts.
expect_ok() {
  local job=$1 what=$2 nodes=$3 state_ exit_ files
  shift 3
  ok_file=
  state_=$(job_field "$job" JobState) exit_=$(job_field "$job" ExitCode)
  if [[ "$state_" != COMPLETED || "$exit_" != 0:0 ]]; then
    fail "$what job $job: state $state_, exit $exit_ (expected COMPLETED 0:0)"
    show_out "$job" >&2
    return 1
  fi
  files=$(results_of "$job")
  if [[ $(wc -w <<<"$files") -ne 1 ]]; then
    fail "$what job $job: expected one results file in $state/results/epbench/$job, found: $files"
    return 1
  fi
  ok_file=$files
  if "$bin" validate --help >/dev/null 2>&1; then
    "$bin" validate "$files" || fail "$what job $job: epbench validate rejects $files"
  fi
  local extra=("$@")
  ((nodes > 1)) && extra+=(--inter-node)
  python3 "$here/check_results.py" run "$files" --nodes "$nodes" --job-id "$job" "${extra[@]}" ||
    fail "$what job $job: results check failed"
}

expect_ok "$job_single" single-node 1
expect_ok "$job_hier" "multi-node (4 groups)" 4 --eplb-used hierarchical
[[ -n "$ok_file" ]] && { python3 "$here/check_results.py" hierarchical "$ok_file" ||
  fail "hierarchical EPLB did not reduce inter-node bytes relative to global placement"; }
expect_ok "$job_global" "multi-node (2 groups)" 4 --eplb-used global
global_file=$ok_file
expect_ok "$job_mpirun" "multi-node (2 groups, mpirun)" 4 --eplb-used global
mpirun_file=$ok_file
for f in $global_file $mpirun_file; do
  python3 "$here/check_results.py" same-node "$f" ||
    fail "EPLB with same-node replicas did not cut inter-node bytes ($f)"
done

bad_state=$(job_field "$job_bad" JobState) bad_exit=$(job_field "$job_bad" ExitCode)
bad_out=$(job_out "$job_bad")
if [[ "$bad_state" != FAILED || "$bad_exit" != 2:0 ]]; then
  fail "bad-input job $job_bad: state $bad_state, exit $bad_exit (expected FAILED 2:0)"
  show_out "$job_bad"
elif ! grep -q '^epbench: error: ' "$bad_out"; then
  fail "bad-input job $job_bad: no 'epbench: error:' line in $bad_out"
  show_out "$job_bad"
elif [[ -n "$(results_of "$job_bad")" ]]; then
  fail "bad-input job $job_bad wrote a results file"
else
  log "bad-input job failed as expected: $(grep -m1 '^epbench: error: ' "$bad_out")"
fi

if ((failures > 0)); then
  log "$failures check(s) failed; job outputs:"
  for j in "${all_jobs[@]}"; do show_out "$j"; done
  exit 1
fi
log "all checks passed in ${SECONDS} s"
