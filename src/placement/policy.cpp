// The placement policy table; see policy.hpp.
#include "placement/policy.hpp"

#include <numeric>

#include "common/error.hpp"

namespace epbench {

Placement contiguous_placement(int num_layers, int num_experts, int num_gpus, int num_nodes) {
  require_input(num_experts % num_gpus == 0,
                "policy none: " + std::to_string(num_experts) +
                    " experts are not divisible by " + std::to_string(num_gpus) + " GPUs");
  std::vector<int32_t> phy2log(static_cast<size_t>(num_layers) * num_experts);
  for (int l = 0; l < num_layers; ++l)
    std::iota(phy2log.begin() + size_t(l) * num_experts,
              phy2log.begin() + size_t(l + 1) * num_experts, 0);
  return Placement(num_layers, num_experts, num_gpus, num_nodes, std::move(phy2log));
}

const std::vector<PlacementPolicy>& placement_policies() {
  static const std::vector<PlacementPolicy> policies = {
      {"none", "experts contiguous on GPUs, no replicas (baseline)",
       [](const EplbProblem& p) {
         p.validate();
         require_input(p.num_replicas == p.num_experts,
                       "policy none places no replicas: replicas (" +
                           std::to_string(p.num_replicas) + ") must equal experts (" +
                           std::to_string(p.num_experts) + ")");
         return PolicyResult{contiguous_placement(p.num_layers, p.num_experts, p.num_gpus,
                                                  p.num_nodes),
                             "none"};
       }},
      {"eplb", "DeepSeek EPLB: replicate hot experts, pack groups to nodes and replicas to GPUs",
       [](const EplbProblem& p) {
         EplbResult r = rebalance_experts(p);
         return PolicyResult{std::move(r.placement), r.policy_used};
       }},
      {"eplb-global", "EPLB's global policy even where groups divide over nodes (for comparison)",
       [](const EplbProblem& p) {
         EplbResult r = rebalance_experts(p, /*force_global=*/true);
         return PolicyResult{std::move(r.placement), r.policy_used};
       }},
  };
  return policies;
}

std::string policy_names() {
  std::string names;
  for (const auto& p : placement_policies()) names += (names.empty() ? "" : ", ") + p.name;
  return names;
}

const PlacementPolicy& find_policy(const std::string& name) {
  for (const auto& p : placement_policies())
    if (p.name == name) return p;
  throw InputError("unknown placement policy \"" + name + "\" (known: " + policy_names() + ")");
}

}  // namespace epbench
