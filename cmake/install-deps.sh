#!/usr/bin/env bash
# Installs the Debian packages epbench needs, only those missing. As root on Debian/Ubuntu it
# runs apt-get; otherwise it prints the command to run and fails. Safe to re-run (no-op when
# everything is present). Usage: cmake/install-deps.sh [--with-slurm]
set -euo pipefail

packages=(cmake g++ make git libopenmpi-dev openmpi-bin nlohmann-json3-dev libcli11-dev
          libopenblas-dev libgtest-dev libgmock-dev libbenchmark-dev
          libtrilinos-kokkos-dev libtrilinos-kokkos-kernels-dev python3-matplotlib)
if [[ "${1:-}" == "--with-slurm" ]]; then
  packages+=(slurmctld slurmd slurm-client)
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
  done
else
  echo "install-deps: not a Debian-based system; install the equivalents of:" >&2
  echo "  ${packages[*]}" >&2
  echo "  (OpenMPI, nlohmann_json, CLI11, OpenBLAS, GoogleTest, Google Benchmark, Kokkos +" >&2
  echo "   KokkosKernels, matplotlib; CUDA Toolkit + NCCL optional) and re-run." >&2
  exit 1
fi

[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "  run as root:  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
