#!/usr/bin/env bash
# Builds epbench (installing missing packages) and runs the whole test suite with ctest.
# Extra arguments go to ctest, e.g. tests/run.sh -L unit   or   tests/run.sh -LE slurm
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EPBENCH_BUILD_DIR:-$root/build}
"$root/cmake/build.sh"
cd "$build"
ctest --output-on-failure --timeout 600 -j "$(nproc 2>/dev/null || echo 2)" "$@"
