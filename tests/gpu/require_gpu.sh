#!/usr/bin/env bash
# EPBENCH_REQUIRE_GPU=1 turns every GPU skip into a failure (a GPU node whose runtime cannot use
# its GPU must not pass green). Usage: require_gpu.sh GPU_TEST_BINARY BENCH_GPU_BINARY
# Without a usable GPU (build machines, CI): the GPU tests skip without the variable and fail
# with it, naming the variable; bench_gpu exits 0 without it and 1 with it.
# With a usable GPU: both pass either way.
set -uo pipefail
tests=$1 bench=$2
filter='CudaDeviceGpu.*'
plain=$(env -u EPBENCH_REQUIRE_GPU "$tests" --gtest_filter="$filter" 2>&1); plain_rc=$?
required=$(EPBENCH_REQUIRE_GPU=1 "$tests" --gtest_filter="$filter" 2>&1); required_rc=$?
fail() { echo "FAIL: $*"; exit 1; }
[[ $plain_rc == 0 ]] || fail "GPU tests fail without EPBENCH_REQUIRE_GPU: $plain"
if grep -q '\[  SKIPPED \]' <<<"$plain"; then
  echo "no usable GPU here: checking that EPBENCH_REQUIRE_GPU=1 turns the skips into failures"
  [[ $required_rc != 0 ]] || fail "EPBENCH_REQUIRE_GPU=1 but the GPU tests passed: $required"
  grep -q 'EPBENCH_REQUIRE_GPU is set but' <<<"$required" || fail "no reason given: $required"
  env -u EPBENCH_REQUIRE_GPU "$bench" --benchmark_filter=BM_Router >/dev/null 2>&1 ||
    fail "bench_gpu without a GPU and without EPBENCH_REQUIRE_GPU must exit 0"
  EPBENCH_REQUIRE_GPU=1 "$bench" --benchmark_filter=BM_Router >/dev/null 2>&1 &&
    fail "bench_gpu without a GPU must fail under EPBENCH_REQUIRE_GPU=1"
else
  echo "a usable GPU here: EPBENCH_REQUIRE_GPU=1 must change nothing"
  [[ $required_rc == 0 ]] || fail "GPU tests fail with EPBENCH_REQUIRE_GPU=1: $required"
fi
echo PASS
