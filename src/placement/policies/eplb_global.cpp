// Policy `eplb-global`: EPLB's global policy even where groups divide over nodes, to measure
// what the hierarchical policy buys.
#include "placement/policy.hpp"

namespace epbench {

PlacementPolicy make_eplb_global_policy() {
  return {"eplb-global", "EPLB's global policy even where groups divide over nodes (for comparison)",
          [](const EplbProblem& p) {
            EplbResult r = rebalance_experts(p, /*force_global=*/true);
            return PolicyResult{std::move(r.placement), r.policy_used, {}};
          }};
}

}  // namespace epbench
