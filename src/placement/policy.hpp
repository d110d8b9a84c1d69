// Placement policy registry. A policy maps a problem (loads + cluster shape) to a Placement;
// adding one is adding one entry to the table in policy.cpp.
//   none : logical experts contiguous on GPUs, no replicas (slot p holds expert p); needs
//          num_replicas == num_experts and experts divisible by GPUs. The baseline.
//   eplb : DeepSeek's EPLB, exact (hierarchical or global as the reference chooses).
//   eplb-global : EPLB's global policy even where groups divide over nodes.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "placement/eplb.hpp"

namespace epbench {

struct PolicyResult {
  Placement placement;
  std::string policy_used;  // e.g. "hierarchical", "global", "none"
};

struct PlacementPolicy {
  std::string name;
  std::string description;
  std::function<PolicyResult(const EplbProblem&)> compute;
};

const std::vector<PlacementPolicy>& placement_policies();
// Throws InputError listing the known policies when `name` is not one of them.
const PlacementPolicy& find_policy(const std::string& name);
std::string policy_names();  // "none, eplb"

// The no-replica baseline: expert e on GPU e / (num_experts / num_gpus).
Placement contiguous_placement(int num_layers, int num_experts, int num_gpus, int num_nodes);

}  // namespace epbench
