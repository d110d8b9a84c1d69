// Host memory one rank of `epbench run` needs, counted buffer by buffer from the scenario (the
// pre-check in `run` compares it with the node's available memory before any step). Every
// buffer that grows with experts, slots, layers, tokens or steps has a term here; when a new
// one is added to the run, add its term too.
#pragma once

#include <string>
#include <vector>

#include "common/memory_check.hpp"
#include "suite/scenario.hpp"

namespace epbench {

// Per rank, for `num_ranks` ranks. `weights_on_host`: the expert weights live in host memory
// (the kokkos backend); with a GPU backend they are on the device and not counted.
std::vector<MemoryTerm> rank_memory_terms(const Scenario& s, int num_ranks, bool weights_on_host);
double rank_memory_bytes(const Scenario& s, int num_ranks, bool weights_on_host);

// InputError when the estimate exceeds 90% of what each of `ranks_per_node` ranks can have of
// `available_bytes`, naming the largest terms.
void require_rank_memory(const Scenario& s, int num_ranks, int ranks_per_node,
                         double available_bytes, bool weights_on_host);

}  // namespace epbench
