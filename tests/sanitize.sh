#!/usr/bin/env bash
# The sanitizer stage of CI (.ci/run runs it after tests/run.sh): builds the `asan` preset
# (AddressSanitizer + UndefinedBehaviorSanitizer with float-cast-overflow, bounds-checked standard
# containers; CPU only, no benchmarks) into build-asan/ and runs the unit, cli and mpi tests with
# it, fuzz tests included. Any memory error or undefined behaviour aborts the process and fails
# its test. Leaks are checked in the unit tests (in-process, no MPI); not in the cli and mpi
# tests, whose processes start Open MPI (and Kokkos Kernels), which keep allocations until exit
# by design and, loaded as plugins without frame pointers, cannot be suppressed narrowly.
#
# Time on a 2-core machine shared with other builds (load average 3-15), measured 2026-11-30:
# cold build (no ccache) 1436 s, the 344 tests 252-448 s; about 28 minutes in all, beside the
# ~10 minutes of tests/run.sh in CI's 90. With main's simulator merged in (366 tests, 3 more
# test programs): the incremental build after the merge took 438 s, the tests 450 s; about 35
# minutes cold. Every target of the preset is a test or what a test runs, so there is nothing
# left to trim from the build; the tests are the full unit, cli and mpi sets.
# Extra arguments go to ctest, e.g. tests/sanitize.sh -R Fuzz
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/cmake/install-deps.sh"
jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
cmake --preset asan >/dev/null  # every time: an existing build-asan/ takes the preset's flags
cmake --build build-asan --parallel "$jobs"
echo "sanitize.sh: build took $(( $(date +%s) - start )) s"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
start=$(date +%s)
status=0
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900 -L unit -j "$jobs" "$@" ||
  status=$?
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 900 -L 'cli|mpi' -LE unit \
  -j "$jobs" "$@" || status=$?
echo "sanitize.sh: tests took $(( $(date +%s) - start )) s"
exit "$status"
