#!/usr/bin/env bash
# Installs missing packages, configures (Release) and builds epbench into build/ (or $EPBENCH_BUILD_DIR).
# Incremental: re-running only rebuilds what changed. Extra arguments go to the cmake configure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EPBENCH_BUILD_DIR:-$root/build}

"$root/cmake/install-deps.sh"
if [[ ! -f "$build/CMakeCache.txt" || $# -gt 0 ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@"
fi
jobs=$(nproc 2>/dev/null || echo 2)
cmake --build "$build" --parallel "$jobs"
