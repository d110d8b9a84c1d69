#!/usr/bin/env bash
# The sanitizer stage of CI: builds the `asan` preset (AddressSanitizer + UndefinedBehaviorSanitizer,
# CPU only, no benchmarks) into build-asan/ and runs the unit, cli and mpi tests with it, fuzz
# tests included. Any memory error or undefined behaviour aborts the process and fails its test.
# Leak checking is off: Open MPI keeps its allocations until exit by design.
# Extra arguments go to ctest, e.g. tests/sanitize.sh -R Fuzz
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/cmake/install-deps.sh"
start=$(date +%s)
if [[ ! -f build-asan/CMakeCache.txt ]]; then cmake --preset asan >/dev/null; fi
cmake --build build-asan --parallel "$(nproc 2>/dev/null || echo 2)"
echo "sanitize.sh: build took $(( $(date +%s) - start )) s"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
start=$(date +%s)
ctest --test-dir build-asan --output-on-failure --timeout 900 -L 'unit|cli|mpi' \
  -j "$(nproc 2>/dev/null || echo 2)" "$@"
echo "sanitize.sh: tests took $(( $(date +%s) - start )) s"
