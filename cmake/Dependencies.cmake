# Finds every dependency through find_package / imported targets and decides which optional
# backends are enabled. Each optional dependency becomes a compile definition only when found.

find_package(MPI REQUIRED COMPONENTS CXX)
find_package(nlohmann_json 3.9 REQUIRED)
find_package(CLI11 REQUIRED)
set(BLA_VENDOR OpenBLAS)
find_package(BLAS REQUIRED)
find_package(Threads REQUIRED)
if(EPBENCH_ENABLE_TESTS)
  find_package(GTest REQUIRED)
endif()
if(EPBENCH_ENABLE_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# Turns AUTO/ON/OFF plus "was it found" into a boolean; ON but missing is an error.
function(epbench_resolve_option option found what)
  if(${option} STREQUAL "OFF")
    set(${option}_RESOLVED OFF PARENT_SCOPE)
  elseif(${found})
    set(${option}_RESOLVED ON PARENT_SCOPE)
  elseif(${option} STREQUAL "ON")
    message(FATAL_ERROR "${option}=ON but ${what} was not found")
  else()
    set(${option}_RESOLVED OFF PARENT_SCOPE)
  endif()
endfunction()

# --- Kokkos (+ KokkosKernels) -------------------------------------------------------------------
set(EPBENCH_KOKKOS_FOUND OFF)
if(NOT EPBENCH_ENABLE_KOKKOS STREQUAL "OFF")
  find_package(Kokkos QUIET)
  if(Kokkos_FOUND)
    include(KokkosTargetFix)
    set(EPBENCH_KOKKOS_FOUND ON)
  endif()
endif()
epbench_resolve_option(EPBENCH_ENABLE_KOKKOS EPBENCH_KOKKOS_FOUND "Kokkos + KokkosKernels")

# --- CUDA ---------------------------------------------------------------------------------------
set(EPBENCH_CUDA_FOUND OFF)
if(NOT EPBENCH_ENABLE_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Never "native": build machines have no GPU. A100 and H100/H200.
      set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures")
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(EPBENCH_CUDA_FOUND ON)
  endif()
endif()
epbench_resolve_option(EPBENCH_ENABLE_CUDA EPBENCH_CUDA_FOUND "a CUDA compiler (nvcc)")

# --- NCCL (no CMake package: an imported target from the files beside the CUDA toolkit) --------
set(EPBENCH_NCCL_FOUND OFF)
if(EPBENCH_ENABLE_CUDA_RESOLVED AND NOT EPBENCH_ENABLE_NCCL STREQUAL "OFF")
  find_package(NCCL)
  set(EPBENCH_NCCL_FOUND ${NCCL_FOUND})
endif()
epbench_resolve_option(EPBENCH_ENABLE_NCCL EPBENCH_NCCL_FOUND "NCCL (nccl.h, libnccl) with CUDA")
