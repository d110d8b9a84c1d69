// Policy `none`: logical experts contiguous on GPUs, no replicas (the baseline).
#include <numeric>

#include "common/error.hpp"
#include "placement/policy.hpp"

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

PlacementPolicy make_none_policy() {
  return {"none", "experts contiguous on GPUs, no replicas (baseline)", [](const EplbProblem& p) {
            p.validate();
            require_input(p.num_replicas == p.num_experts,
                          "policy none places no replicas: replicas (" +
                              std::to_string(p.num_replicas) + ") must equal experts (" +
                              std::to_string(p.num_experts) + ")");
            return PolicyResult{
                contiguous_placement(p.num_layers, p.num_experts, p.num_gpus, p.num_nodes),
                "none", {}};
          }};
}

}  // namespace epbench
