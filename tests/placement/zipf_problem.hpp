// Test helper shared by the placement tests: a problem with zipf-like loads (1000 / rank) and
// a random expert order per layer.
#pragma once

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "placement/eplb.hpp"

namespace epbench::testing {

inline EplbProblem zipf_problem(int layers, int experts, int replicas, int groups, int nodes,
                                int gpus, unsigned seed) {
  EplbProblem p{layers, experts, {}, replicas, groups, nodes, gpus};
  std::mt19937 rng(seed);
  for (int l = 0; l < layers; ++l) {
    std::vector<int> perm(experts);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int e = 0; e < experts; ++e) p.weight.push_back(1000.0 / (1 + perm[e]));
  }
  return p;
}

}  // namespace epbench::testing
