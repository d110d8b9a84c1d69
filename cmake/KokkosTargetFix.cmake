# Makes Kokkos usable through one target, epbench::kokkos (Kokkos core + KokkosKernels).
# Debian's Trilinos packages export a Kokkos::kokkos whose include dir does not exist and no
# KokkosKernels target; a standalone Kokkos install exports Kokkos::kokkos and Kokkos::kokkoskernels.
if(TARGET Kokkos::kokkoskernels)
  set(_epbench_kk_kernels Kokkos::kokkoskernels)
else()
  find_package(KokkosKernels QUIET)
  if(TARGET Kokkos::kokkoskernels)
    set(_epbench_kk_kernels Kokkos::kokkoskernels)
  else()
    find_library(EPBENCH_KOKKOSKERNELS_LIBRARY NAMES trilinos_kokkoskernels kokkoskernels REQUIRED)
    set(_epbench_kk_kernels ${EPBENCH_KOKKOSKERNELS_LIBRARY})
  endif()
endif()
if(DEFINED Kokkos_INCLUDE_DIRS AND Kokkos_INCLUDE_DIRS)
  # Trilinos flavour: repair the target as measured in shared/ENVIRONMENT.md.
  list(GET Kokkos_INCLUDE_DIRS 0 _kk_first)
  get_filename_component(_kk "${_kk_first}" REALPATH)
  if(EXISTS "${_kk}/Kokkos_Core.hpp")
    set_target_properties(Kokkos::kokkos PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kk}"
      INTERFACE_LINK_LIBRARIES "trilinos_kokkosalgorithms;trilinos_kokkoscontainers;trilinos_kokkoscore")
  endif()
endif()
add_library(epbench_kokkos INTERFACE)
target_link_libraries(epbench_kokkos INTERFACE Kokkos::kokkos ${_epbench_kk_kernels})
add_library(epbench::kokkos ALIAS epbench_kokkos)
