// Policy `eplb`: the exact port of DeepSeek's EPLB (eplb.hpp).
#include "placement/policy.hpp"

namespace epbench {

PlacementPolicy make_eplb_policy() {
  return {"eplb", "DeepSeek EPLB: replicate hot experts, pack groups to nodes and replicas to GPUs",
          [](const EplbProblem& p) {
            EplbResult r = rebalance_experts(p);
            return PolicyResult{std::move(r.placement), r.policy_used, {}};
          }};
}

}  // namespace epbench
