// Lower bounds on the best achievable max GPU load of one layer under EPLB's model (an expert's
// load split equally among its copies; every GPU holds exactly num_replicas / num_gpus copies;
// in hierarchical mode every copy of a group's experts on the group's node, num_groups /
// num_nodes groups per node). Derivations: docs/placement.md, "Lower bounds".
//
// A bound T is proven by showing that no placement has max load <= T; the largest such T found
// by bisection is reported (the optimum is strictly above it). The test combines, for one
// choice of replica counts, the mean GPU load, the replication bound (every copy <= T) and
// pigeonhole bounds (at most k*G copies can exceed T/(k+1)), relaxed to a fractional knapsack
// over replica counts so that it holds for every count vector.
#pragma once

#include <span>
#include <vector>

#include "placement/eplb.hpp"

namespace epbench {

// One node's (or the whole cluster's, in global mode) bound: `loads` of its experts,
// `num_slots` copies on `num_gpus` GPUs with num_slots / num_gpus slots each.
double flat_lower_bound(std::span<const double> loads, int num_slots, int num_gpus);

// Bound for one layer. In hierarchical mode also the minimum over every assignment of groups
// to nodes of the largest node bound (enumerated when there are at most ~20k node subsets;
// otherwise a weaker node-sum bound).
double layer_lower_bound(std::span<const double> loads, int num_slots, int num_groups,
                         int num_nodes, int num_gpus, bool hierarchical);

// Per-layer bounds for a problem; `hierarchical` = the constraint the placement obeys
// (policy_used == "hierarchical"). Layers in parallel as EplbProblem::num_threads says.
std::vector<double> lower_bounds(const EplbProblem& problem, bool hierarchical);
inline std::vector<double> lower_bounds(const EplbProblem& problem) {
  return lower_bounds(problem, problem.hierarchical());
}

// 1 - bound / max_load: the largest fraction by which any placement could lower the max GPU
// load (0 = proven optimal). 0 when max_load is 0.
double gap_to_bound(double bound, double max_load);

}  // namespace epbench
