#!/usr/bin/env bash
# Test of jobs/mpirun.sh (ctest label "mpi"): 4 ranks as 2 emulated nodes of 2 ranks give a
# results file with 2 distinct nodes, inter-node bytes and no wrong results; bad input exits 2
# with the suite's error; --dry-run shows the root/oversubscribe flags.
#   tests/slurm/test_mpirun_sh.sh [--root REPO] [--bin EPBENCH]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=
while [[ $# -gt 0 ]]; do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export EPBENCH_BIN=${bin:-${EPBENCH_BIN:-$root/build/src/app/epbench}}
tmp=$(mktemp -d /tmp/epbench-mpirun-sh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

dry=$("$root/jobs/mpirun.sh" --dry-run -n 64 -r 16 -- --preset small)
[[ "$dry" == *"-np 64 "* && "$dry" == *"--oversubscribe"* && "$dry" == *" run --ranks-per-node 16 --preset small"* ]] ||
  fail "dry run: unexpected command: $dry"
if [[ $(id -u) -eq 0 && "$dry" != *"--allow-run-as-root"* ]]; then fail "dry run as root lacks --allow-run-as-root"; fi

"$root/jobs/mpirun.sh" -n 4 -r 2 -- --hidden 64 --ffn 128 --experts 16 --top-k 2 --groups 4 \
  --topk-groups 1 --tokens-per-rank 32 --layers 1 --warmup 1 --steps 2 --policies none,eplb \
  --verify all --output "$tmp/r.json" >"$tmp/run.out" 2>&1 ||
  { fail "mpirun.sh run failed:"; cat "$tmp/run.out"; }
if [[ -f "$tmp/r.json" ]]; then
  python3 "$here/check_results.py" run "$tmp/r.json" --nodes 2 --inter-node || fail "results check failed"
else
  fail "no results file $tmp/r.json"
fi

rc=0
"$root/jobs/mpirun.sh" -n 2 -- --experts 4 --top-k 8 --output "$tmp/bad.json" >"$tmp/bad.out" 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "bad input: exit status $rc, expected 2"
grep -q '^epbench: error: ' "$tmp/bad.out" || { fail "bad input: no 'epbench: error:' line"; cat "$tmp/bad.out"; }
[[ ! -e "$tmp/bad.json" ]] || fail "bad input wrote a results file"

((failures == 0)) && echo "mpirun.sh: all checks passed"
((failures == 0))
