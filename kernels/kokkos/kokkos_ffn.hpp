// Entry points of the Kokkos backend (kernels/kokkos/), called by the backend factory.
// The Kokkos types stay inside kokkos_ffn.cpp so that no public header includes Kokkos.
#pragma once

#include <memory>
#include <string>

#include "expert_ffn.hpp"

namespace epbench::kernels::kokkos {

// Requires an initialized Kokkos; runs in Kokkos::DefaultExecutionSpace.
std::unique_ptr<GroupedFfn> make_kokkos_ffn(FfnShape shape, int num_layers, int num_slots);

bool is_initialized();
void initialize(int& argc, char** argv);
void finalize();
std::string version_string();
std::string execution_space_name();

}  // namespace epbench::kernels::kokkos
