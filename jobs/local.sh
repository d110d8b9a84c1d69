#!/usr/bin/env bash
# The main job on one machine: installs missing packages, builds (Release), and runs the
# default benchmark. Currently: EPLB placement of the bundled DeepSeek-V3-shaped example.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${EPBENCH_BUILD_DIR:-$root/build}
"$root/cmake/build.sh"
"$build/src/app/epbench" place --input "$root/jobs/examples/deepseek-v3-zipf.json" "$@"
