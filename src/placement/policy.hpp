// Placement policy registry. A policy maps a problem (loads + cluster shape) to a Placement.
// Each policy lives in its own file under policies/ and exposes one factory,
// PlacementPolicy make_<name>_policy(); the list in policy.cpp names them (adding a policy is
// adding its file and one word to that list).
//   none        : logical experts contiguous on GPUs, no replicas (slot p holds expert p);
//                 needs num_replicas == num_experts and experts divisible by GPUs. The baseline.
//   eplb        : DeepSeek's EPLB, exact (hierarchical or global as the reference chooses).
//   eplb-global : EPLB's global policy even where groups divide over nodes.
//   minmax      : the smallest max GPU load under EPLB's model and constraints (minmax.hpp);
//                 never worse than eplb; migration-aware with problem.current.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "placement/eplb.hpp"

namespace epbench {

struct PolicyResult {
  Placement placement;
  std::string policy_used;             // e.g. "hierarchical", "global", "none"
  std::vector<uint8_t> proven_optimal;  // per layer, when the policy proves it; else empty
};

struct PlacementPolicy {
  std::string name;
  std::string description;
  std::function<PolicyResult(const EplbProblem&)> compute;
};

const std::vector<PlacementPolicy>& placement_policies();
// Throws InputError listing the known policies when `name` is not one of them.
const PlacementPolicy& find_policy(const std::string& name);
std::string policy_names();  // "none, eplb, ..."

// The no-replica baseline: expert e on GPU e / (num_experts / num_gpus).
Placement contiguous_placement(int num_layers, int num_experts, int num_gpus, int num_nodes);

}  // namespace epbench
