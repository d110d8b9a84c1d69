#!/usr/bin/env bash
# Validates the whole GPU path (--backend cuda, --comm nccl) in one command on a GPU node that
# lacks our build dependencies. Three modes:
#
#   jobs/gpu-validate.sh bundle [DIR]   on the build machine: builds for sm_90 only with Kokkos
#       off (build-gpu-bundle/) and makes DIR (default gpu-bundle/), a self-contained folder
#       under 64 MiB: bin/ (RPATH $ORIGIN/../lib), lib/ (every non-CUDA shared library they and
#       Open MPI need, except the C/C++ runtime), ompi/ (an Open MPI 4.1 runtime: mpirun, orted,
#       plugins, help files, PMIx plugins), env.sh and this script. cuBLAS and NCCL are not
#       carried (libnccl alone is 218 MB): env.sh finds them where the node has them, in CUDA
#       Python wheels (nvidia-cublas, nvidia-nccl-cu13 under /opt/torch/.venv or any python3)
#       or in a CUDA toolkit.
#   DIR/gpu-validate.sh run             on the GPU node, from the bundle: every step under
#       `timeout`, total <= 8 min, logs and JSON into $OUT (default ./gpu-validate-out):
#       nvidia-smi (clocks before and after), GPU unit tests with EPBENCH_REQUIRE_GPU=1, bench_gpu
#       (512 and 2048 tokens per expert, equal and skewed; permute, combine, router),
#       epbench run --backend cuda --comm nccl at np 1 (Qwen3-30B-A3B shape, 2048 tokens/rank,
#       policies none and eplb), --comm mpi host-staged at np 4 sharing the GPU with a rebalance,
#       and the abort path (np 2 NCCL ranks on one GPU must fail fast with a clear message).
#       Ends with a summary table (summary.txt) and exit status 0 only if every step passed; $OUT
#       then holds summary.txt, logs.tar.gz (every step's log) and at most four JSON files.
#   jobs/gpu-validate.sh dry-run        the run mode on this machine (no GPU): every step that
#       needs a GPU reports "no GPU" and is skipped; the rest (bundle sanity, listing the
#       benchmarks) runs. Exit 0. Uses the bundle if one is given in EPBENCH_BUNDLE, else build/.
#
#   jobs/gpu-validate.sh selftest BIN   the bundle's cheap pieces (library selection, env.sh
#       finding wheels), for ctest.
#
# In ctest (tests/gpu/CMakeLists.txt): gpu.validate_dry_run and gpu.validate_selftest;
# `bundle` itself prints its size and checks a singleton and an `mpirun -np 2` start of epbench
# from the bundle with the system's Open MPI hidden (a private mount namespace; needs root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:-}
[[ $# -gt 0 ]] && shift

die() { echo "gpu-validate: $*" >&2; exit 2; }

# ------------------------------------------------------------------------------------------------
# bundle
# ------------------------------------------------------------------------------------------------
# Libraries every Linux with a C++ toolchain has (newer is compatible), and the CUDA libraries
# that come from the node (driver, cuBLAS, NCCL): never copied.
is_system_or_cuda_lib() {
  case "$(basename "$1")" in
    ld-linux*|libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libutil.so*|libresolv.so*) return 0 ;;
    libstdc++.so*|libgcc_s.so*|linux-vdso*) return 0 ;;
    libcuda.so*|libnvidia*|libcublas.so*|libcublasLt.so*|libnccl.so*) return 0 ;;
  esac
  return 1
}

# Copies the shared-library dependencies of the given ELF files into $lib (by soname).
copy_deps() {
  local lib=$1; shift
  local file dep path
  for file in "$@"; do
    while read -r dep path; do
      [[ -n $path && -e $path ]] || continue
      is_system_or_cuda_lib "$dep" && continue
      [[ -e $lib/$dep ]] || cp -L "$path" "$lib/$dep"
    done < <(ldd "$file" 2>/dev/null | awk '/=>/ {print $1, $3}')
  done
}

# env.sh of a bundle: PATH, LD_LIBRARY_PATH, OPAL_PREFIX, and the CUDA libraries of the node
# (EPBENCH_PYTHONS: the Python interpreters whose site-packages are searched for CUDA wheels).
write_env_sh() {
  cat > "$1/env.sh" <<'ENV'
# Source from the bundle folder's parent or anywhere: sets PATH, LD_LIBRARY_PATH and OPAL_PREFIX
# for the bundle, and finds cuBLAS / NCCL / the CUDA runtime in Python wheels or a toolkit.
EPBENCH_BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export EPBENCH_BUNDLE
export OPAL_PREFIX=$EPBENCH_BUNDLE/ompi
export PMIX_MCA_mca_base_component_path=$EPBENCH_BUNDLE/ompi/pmix
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_pml=ob1 OMPI_MCA_osc=^ucx OMPI_MCA_mtl=^ofi
export OMPI_MCA_btl_vader_single_copy_mechanism=none   # no CMA inside containers
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export PATH=$EPBENCH_BUNDLE/bin:$EPBENCH_BUNDLE/ompi/bin:$PATH
_cuda_dirs=""
for _py in ${EPBENCH_PYTHONS:-/opt/torch/.venv/bin/python3 python3}; do
  command -v "$_py" >/dev/null 2>&1 || continue
  _site=$("$_py" -c 'import site,sys; print(" ".join(site.getsitepackages()))' 2>/dev/null) || continue
  for _s in $_site; do
    for _f in $(find "$_s/nvidia" -maxdepth 4 \( -name 'libcublas.so*' -o -name 'libnccl.so*' \) 2>/dev/null); do
      case ":$_cuda_dirs:" in *":$(dirname "$_f"):"*) ;; *) _cuda_dirs=$_cuda_dirs:$(dirname "$_f") ;; esac
    done
  done
  [[ -n $_cuda_dirs ]] && break
done
for _d in /usr/local/cuda/lib64 /usr/local/cuda/lib; do
  [[ -e $_d/libcublas.so.13 ]] && _cuda_dirs=$_cuda_dirs:$_d
done
export EPBENCH_CUDA_LIB_DIRS=${_cuda_dirs#:}
export LD_LIBRARY_PATH=$EPBENCH_BUNDLE/lib${EPBENCH_CUDA_LIB_DIRS:+:$EPBENCH_CUDA_LIB_DIRS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset _py _site _s _f _d _cuda_dirs
ENV
}

bundle_mode() {
  local root out build
  root=$(cd "$here/.." && pwd)
  out=$(realpath -m "${1:-$root/gpu-bundle}")
  build=${EPBENCH_BUNDLE_BUILD:-$root/build-gpu-bundle}
  command -v ompi_info >/dev/null || die "bundle needs Open MPI installed here (libopenmpi-dev openmpi-bin)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DEPBENCH_ENABLE_KOKKOS=OFF -DEPBENCH_ENABLE_CUDA=ON -DEPBENCH_ENABLE_NCCL=ON \
    '-DCMAKE_BUILD_RPATH=$ORIGIN/../lib' -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON \
    -DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags >/dev/null
  cmake --build "$build" -j "$(nproc)" --target epbench epbench_gpu_tests bench_gpu

  rm -rf "$out"
  mkdir -p "$out/bin" "$out/lib" "$out/ompi/bin" "$out/ompi/share"
  cp "$build/src/app/epbench" "$build/tests/gpu/epbench_gpu_tests" \
     "$build/benchmarks/bench_gpu" "$out/bin/"
  strip --strip-unneeded "$out/bin/"* 2>/dev/null || true

  # Open MPI 4.1 (Debian layout): prefix /usr, plugins in lib/x86_64-linux-gnu/openmpi/lib/
  # openmpi3, help texts in share/openmpi. With OPAL_PREFIX=ompi/ both are found relative to it.
  local libdir pkglibdir pkgdatadir pmixdir
  libdir=$(ompi_info --path libdir --parsable | sed 's/.*:libdir://')
  pkglibdir=$(ompi_info --path pkglibdir --parsable | sed 's/.*:pkglibdir://')
  pkgdatadir=$(ompi_info --path pkgdatadir --parsable | sed 's/.*:pkgdatadir://')
  local rel=${pkglibdir#/usr/}
  mkdir -p "$out/ompi/$rel"
  cp "$pkglibdir"/mca_*.so "$out/ompi/$rel/"
  # One node, shared memory and TCP: drop the fabric (UCX, OFI, PSM, verbs), OpenSHMEM and MPI-IO
  # plugins and, with them, the libraries only they need (about 8 MiB).
  find "$out/ompi/$rel" -regextype posix-extended -regex \
    '.*/mca_((atomic|memheap|scoll|spml|sshmem|mtl|fcoll|fs|fbtl|sharedfp)_.*|(btl_ofi|btl_openib|osc_ucx|pml_ucx|pml_cm|io_romio321|io_ompio|topo_treematch)\.so)' \
    -delete
  for tool in orterun orted ompi_info; do cp -L "$(command -v $tool)" "$out/ompi/bin/"; done
  ln -s orterun "$out/ompi/bin/mpirun"
  mkdir -p "$out/ompi/share/openmpi"
  find "$pkgdatadir" -maxdepth 1 -name 'help-*.txt' -exec cp {} "$out/ompi/share/openmpi/" \;
  # PMIx (external, Debian's libpmix2) loads its own plugins from a compiled-in folder.
  pmixdir=$(dirname "$(dirname "$(find /usr/lib -path '*pmix*/lib/pmix/pmix_mca_*.so' | head -1)")")
  if [[ -d $pmixdir/pmix ]]; then
    mkdir -p "$out/ompi/pmix"
    cp "$pmixdir"/pmix/*.so "$out/ompi/pmix/"
    find "$(dirname "$pmixdir")" -maxdepth 3 -name 'help-pmix*.txt' -exec cp {} "$out/ompi/share/openmpi/" \; 2>/dev/null || true
  fi
  copy_deps "$out/lib" "$out/bin/"* "$out/ompi/bin/orterun" "$out/ompi/bin/orted" \
    "$out/ompi/bin/ompi_info" "$out/ompi/$rel"/*.so "$out/ompi/pmix"/*.so
  # Dependencies of the copied libraries themselves (e.g. libgfortran of OpenBLAS).
  copy_deps "$out/lib" "$out/lib"/*.so*
  copy_deps "$out/lib" "$out/lib"/*.so*
  # The CUDA runtime is small: carry it; cuBLAS and NCCL come from the node.
  cp -L "$(ldd "$out/bin/epbench" | awk '/libcudart.so/ {print $3}')" "$out/lib/" 2>/dev/null || true
  strip --strip-unneeded "$out/lib/"*.so* "$out/ompi/$rel"/*.so 2>/dev/null || true

  write_env_sh "$out"
  cp "$here/gpu-validate.sh" "$out/"
  git -C "$root" rev-parse HEAD > "$out/COMMIT" 2>/dev/null || true

  local size_kib
  size_kib=$(du -sk "$out" | cut -f1)
  echo "bundle: $out, $((size_kib / 1024)) MiB"
  ((size_kib < 64 * 1024)) || die "bundle is $((size_kib / 1024)) MiB, over the 64 MiB limit"
  check_bundle_without_system_mpi "$out"
}

# Starts epbench from the bundle as a singleton and under the bundle's mpirun (np 2) with the
# system's Open MPI and PMIx hidden behind empty mounts (private mount namespace).
check_bundle_without_system_mpi() {
  local out=$1
  if [[ $(id -u) != 0 ]] || ! unshare -m true 2>/dev/null; then
    echo "bundle: not root or no mount namespaces here: the start without the system MPI is not checked"
    return 0
  fi
  # Files first, then folders: a file inside a hidden folder cannot be a mount point.
  local hide=() f
  for f in /usr/lib/x86_64-linux-gnu/libmpi.so.40 /usr/lib/x86_64-linux-gnu/libopen-pal.so.40 \
           /usr/lib/x86_64-linux-gnu/libopen-rte.so.40 /usr/lib/x86_64-linux-gnu/libpmix.so.2 \
           /usr/lib/x86_64-linux-gnu/libmpi_cxx.so.40 /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi \
           /etc/openmpi /usr/bin/orted /usr/bin/orterun /usr/bin/mpirun /usr/bin/mpiexec; do
    [[ -e $f ]] && hide+=("$(realpath "$f")")
  done
  unshare -m bash -euo pipefail -c '
    out=$1; shift
    empty_dir=$(mktemp -d); empty_file=$(mktemp)
    for f in "$@"; do if [[ ! -d $f ]]; then mount --bind "$empty_file" "$f"; fi; done
    for f in "$@"; do if [[ -d $f ]]; then mount --bind "$empty_dir" "$f"; fi; done
    source "$out/env.sh"
    deps=$(ldd "$out/bin/epbench")
    grep -Eq "libmpi.so.40 => $out/(bin/\.\./)?lib/" <<<"$deps" ||
      { echo "libmpi not from the bundle: $deps"; exit 1; }
    tmp=$(mktemp -d)
    # Without a GPU both stop at the backend check (exit 2) after MPI started: that is the point.
    (timeout 60 epbench run --backend cuda --output-dir "$tmp" 2>&1 || true) | tee "$tmp/singleton.log" | tail -2
    grep -q "no usable CUDA device\|results:" "$tmp/singleton.log" || { echo "singleton start failed"; exit 1; }
    (timeout 60 mpirun --oversubscribe -np 2 epbench run --backend cuda --output-dir "$tmp" 2>&1 || true) |
      tee "$tmp/np2.log" | tail -2
    grep -q "no usable CUDA device\|results:" "$tmp/np2.log" || { echo "mpirun -np 2 start failed"; exit 1; }
    echo "bundle: singleton and mpirun -np 2 start from the bundle with the system MPI hidden"
  ' _ "$out" "${hide[@]}"
}

# The bundle's cheap pieces, for ctest (building a bundle takes minutes): which libraries are
# copied (MPI and OpenBLAS yes; libc, libstdc++, cuBLAS, NCCL no) and env.sh finding cuBLAS and
# NCCL in a wheel layout. Usage: selftest BINARY (a built epbench).
selftest_mode() {
  local binary=$1 tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$tmp/lib"
  copy_deps "$tmp/lib" "$binary"
  local must want
  for must in libmpi.so.40 libopenblas.so.0; do
    [[ -e $tmp/lib/$must ]] || { echo "FAIL: $must not copied"; return 1; }
  done
  for want in 'libc.so*' 'libstdc++*' 'libcublas*' 'libnccl*' 'libcuda.so*'; do
    compgen -G "$tmp/lib/$want" >/dev/null && { echo "FAIL: $want copied"; return 1; }
  done
  # A fake wheel layout and a fake interpreter that reports it as its site-packages.
  mkdir -p "$tmp/site/nvidia/cublas/lib" "$tmp/site/nvidia/nccl/lib" "$tmp/bundle"
  touch "$tmp/site/nvidia/cublas/lib/libcublas.so.13" "$tmp/site/nvidia/nccl/lib/libnccl.so.2"
  printf '#!/bin/sh\necho %s\n' "$tmp/site" > "$tmp/fakepython"
  chmod +x "$tmp/fakepython"
  write_env_sh "$tmp/bundle"
  (
    EPBENCH_PYTHONS=$tmp/fakepython
    # shellcheck disable=SC1091
    source "$tmp/bundle/env.sh"
    [[ $LD_LIBRARY_PATH == "$tmp/bundle/lib:"* ]] || { echo "FAIL: bundle lib not first"; exit 1; }
    [[ :$LD_LIBRARY_PATH: == *":$tmp/site/nvidia/cublas/lib:"* ]] || { echo "FAIL: cuBLAS wheel not found"; exit 1; }
    [[ :$LD_LIBRARY_PATH: == *":$tmp/site/nvidia/nccl/lib:"* ]] || { echo "FAIL: NCCL wheel not found"; exit 1; }
    [[ $OPAL_PREFIX == "$tmp/bundle/ompi" ]] || { echo "FAIL: OPAL_PREFIX"; exit 1; }
  ) || return 1
  echo "selftest: PASS"
}

# ------------------------------------------------------------------------------------------------
# run / dry-run
# ------------------------------------------------------------------------------------------------
run_mode() {
  local dry=$1
  local bin
  if [[ -n ${EPBENCH_BUNDLE:-} ]]; then
    # shellcheck disable=SC1091
    source "$EPBENCH_BUNDLE/env.sh"
  elif [[ -f $here/env.sh ]]; then
    # shellcheck disable=SC1091
    source "$here/env.sh"
  fi
  if [[ -n ${EPBENCH_BUNDLE:-} ]]; then
    bin=$EPBENCH_BUNDLE/bin
  else  # dry run from a source tree: the normal build
    local build=${EPBENCH_BUILD_DIR:-$here/../build}
    mkdir -p "$build/gpu-validate-bin"
    ln -sf "$build/src/app/epbench" "$build/tests/gpu/epbench_gpu_tests" \
       "$build/benchmarks/bench_gpu" "$build/gpu-validate-bin/"
    bin=$(cd "$build/gpu-validate-bin" && pwd)
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  local out=${OUT:-$PWD/gpu-validate-out}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  local summary=$out/summary.txt
  : > "$summary"
  local failed=0 start=$SECONDS

  have_gpu=0
  if [[ $dry == 0 ]] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    have_gpu=1
  fi
  {
    echo "# gpu-validate $(date -u +%FT%TZ) on $(uname -n)"
    echo "# bundle commit: $(cat "${EPBENCH_BUNDLE:-/nonexistent}/COMMIT" 2>/dev/null || echo source-tree)"
    echo "# cuda libs: ${EPBENCH_CUDA_LIB_DIRS:-none found}"
    [[ $have_gpu == 1 ]] || echo "# no GPU: every step that needs one is skipped (dry run)"
  } | tee -a "$summary"

  # step NAME LIMIT_S EXPECT DRY COMMAND...: runs under timeout, log in $out/NAME.log.
  # EXPECT (with a GPU): pass (exit 0) or fail (non-zero exit, not a timeout).
  # DRY (without a GPU): skip; pass (exit 0: GPU tests skip, bench_gpu lists); or nodevice (the
  # flags parse and epbench stops with exit 2 and "no usable CUDA device").
  step() {
    local name=$1 limit=$2 expect=$3 dry_expect=$4; shift 4
    if [[ $have_gpu == 0 ]]; then
      expect=$dry_expect
      if [[ $expect == skip ]]; then
        printf '%-26s %-6s %4s s  %s\n' "$name" "skip" 0 "no GPU" | tee -a "$summary"
        return 0
      fi
    fi
    local t0=$SECONDS rc=0
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1 || rc=$?
    local verdict=ok
    case $expect in
      pass) [[ $rc == 0 ]] || verdict=FAIL ;;
      fail) [[ $rc != 0 ]] || verdict=FAIL ;;
      nodevice) [[ $rc == 2 ]] && grep -q "no usable CUDA device" "$out/$name.log" || verdict=FAIL ;;
    esac
    [[ $rc == 124 || $rc == 137 ]] && verdict="FAIL (timeout ${limit}s)"
    [[ $verdict == ok ]] || failed=$((failed + 1))
    printf '%-26s %-6s %4s s  rc=%-3s %s\n' "$name" "$verdict" $((SECONDS - t0)) "$rc" \
      "$( (grep -E '^(epbench|# results|bench_gpu|no CUDA|\[  (PASSED|FAILED))' "$out/$name.log" ||
            tail -n 1 "$out/$name.log") | tail -n 1 | cut -c1-100)" | tee -a "$summary"
  }

  local require=$have_gpu  # EPBENCH_REQUIRE_GPU: GPU skips are failures on the GPU node
  step nvidia-smi-before 15 pass skip nvidia-smi \
    --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks.max.sm,temperature.gpu,power.draw,memory.used \
    --format=csv
  step bench-list 15 pass pass "$bin/bench_gpu" --benchmark_list_tests
  step gpu-unit-tests 90 pass pass env EPBENCH_REQUIRE_GPU=$require "$bin/epbench_gpu_tests" \
    --gtest_output="json:$out/gpu-unit-tests.json"
  step bench-gpu 120 pass pass env EPBENCH_REQUIRE_GPU=$require "$bin/bench_gpu" \
    '--benchmark_filter=tokens_per_expert:(512|2048)/|BM_(Permute|Combine|Router)/' \
    --benchmark_min_time=0.05 --benchmark_out="$out/bench_gpu.json" --benchmark_out_format=json
  local common=(run --preset qwen3-30b-a3b --tokens-per-rank 2048 --layers 2 --warmup 2 --steps 5
                --skew zipf:1.2 --verify sample:64 --label gpu-validate)
  step nccl-np1 75 pass nodevice mpirun -np 1 "$bin/epbench" "${common[@]}" --backend cuda \
    --comm nccl --comm-timeout 60 --policies none,eplb --output "$out/epbench-nccl-np1.json"
  step mpi-np4-shared-gpu 90 pass nodevice mpirun --oversubscribe --bind-to none -np 4 \
    "$bin/epbench" "${common[@]}" --backend cuda --comm mpi --policies eplb --rebalance-every 2 \
    --output "$out/epbench-mpi-np4.json"
  # Two NCCL ranks on one GPU: must fail fast (well inside the limit) and say why.
  step nccl-np2-one-gpu-aborts 45 fail nodevice env CUDA_VISIBLE_DEVICES=0 mpirun -np 2 \
    "$bin/epbench" "${common[@]}" --backend cuda --comm nccl --policies none --comm-timeout 20 \
    --output "$out/epbench-nccl-np2-must-not-exist.json"
  if [[ $have_gpu == 1 ]]; then
    if grep -q "needs one GPU per rank" "$out/nccl-np2-one-gpu-aborts.log"; then
      echo "nccl-np2-one-gpu-aborts: the message names the shared GPU" | tee -a "$summary"
    else
      echo "nccl-np2-one-gpu-aborts: FAIL: no clear message" | tee -a "$summary"
      failed=$((failed + 1))
    fi
  fi
  step nvidia-smi-after 15 pass skip nvidia-smi \
    --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv

  echo "# total $((SECONDS - start)) s, $failed failed step(s); JSON, summary.txt and logs.tar.gz in $out" |
    tee -a "$summary"
  # Few files to fetch back: the step logs go into one archive.
  (cd "$out" && tar czf logs.tar.gz ./*.log && rm -f ./*.log)
  if ((failed > 0)); then
    echo "FAILED: $failed step(s)" | tee -a "$summary"
    return 1
  fi
  if [[ $have_gpu == 1 ]]; then
    echo "every step passed" | tee -a "$summary"
  else
    echo "no GPU: dry run complete" | tee -a "$summary"
  fi
}

case $mode in
  bundle) bundle_mode "$@" ;;
  run) run_mode 0 ;;
  dry-run) run_mode 1 ;;
  selftest) selftest_mode "$@" ;;
  *) echo "usage: $0 bundle [DIR] | run | dry-run | selftest EPBENCH_BINARY   (see the header)" >&2; exit 2 ;;
esac
