// Placement policy lplb: DeepSeek LPLB's placement. EPLB first orders the logical experts onto
// the GPUs without replication (num_experts / num_gpus each); then every GPU gets n extra slots,
// its i-th extra slot holding a copy of the i-th heaviest expert of GPU r2o[gpu][i]. The
// topology matrix r2o ([num_gpus][n], never a GPU itself) comes from --lplb-topology:
//   cube      : blocks of 8 GPUs, n = 2 (needs >= 2 experts per GPU)
//   hypercube : blocks of 16 GPUs, n = 4, the 4-cube's edges (GPU r copies from r XOR 2^i)
//   torus     : n = 2: one copy from the next GPU of the same node, one from the same local
//               GPU of the next node (needs >= 2 nodes of >= 2 GPUs)
//   r2o:FILE  : a CSV matrix, one row per GPU, n integers each
// Slots: num_experts + n * num_gpus. Paired with the per-batch rule lp (or lplb) it is LPLB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "placement/policy.hpp"

namespace epbench {

inline constexpr const char* kDefaultLplbTopology = "cube";

// r2o for a topology spec; InputError naming what the topology needs when the shape does not fit.
std::vector<std::vector<int32_t>> lplb_r2o(const std::string& topology, int num_gpus,
                                           int num_nodes);
// Checks the spec's syntax only (a name, or r2o: with a file name); for flag parsing.
void check_lplb_topology_name(const std::string& topology);
// Physical slots the policy places: num_experts + redundant copies per GPU * num_gpus.
int lplb_num_slots(const std::string& topology, int num_experts, int num_gpus, int num_nodes);

PolicyResult lplb_placement(const EplbProblem& problem, const std::string& topology);
// The policy with a given topology (the registry's entry uses the default, cube).
PlacementPolicy make_lplb_policy(const std::string& topology);
// find_policy(name), except that "lplb" gets the given topology.
PlacementPolicy configured_policy(const std::string& name, const std::string& lplb_topology);

}  // namespace epbench
