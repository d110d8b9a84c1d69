// The minmax policy: the placement with the smallest max GPU load under EPLB's model and
// EPLB's constraints (fixed slots per GPU; in hierarchical mode every copy of a group's experts
// on the group's node, num_groups / num_nodes groups per node). Per layer:
//   1. start from EPLB's placement (or, with a migration limit, from problem.current);
//   2. local search on the bottleneck node's block (local_search.hpp): swaps and
//      re-replication, each move lowering the current bottleneck;
//   3. hierarchical mode: swap groups between the bottleneck node and another node when the
//      re-solved pair of nodes beats the max;
//   4. small instances: exhaustive branch and bound (exact.hpp) proves the optimum;
//   5. never worse than the start: a layer keeps EPLB's placement unless strictly better.
// With problem.current set, GPUs (and nodes) are relabelled to keep as many experts where they
// are as possible; with max_moved_experts >= 0 at most that many experts move per layer.
// Deterministic (work limits) unless time_budget_ms > 0 caps the search by wall clock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "placement/eplb.hpp"

namespace epbench {

struct MinmaxResult {
  Placement placement;
  std::string policy_used;             // "hierarchical" or "global", as EPLB would choose
  std::vector<uint8_t> proven_optimal;  // per layer: exhaustive search finished
};

MinmaxResult minmax_placement(const EplbProblem& problem);

}  // namespace epbench
