// Policy `minmax`: the smallest max GPU load under EPLB's model and constraints, starting from
// EPLB's answer and never worse (minmax.hpp); migration-aware when the problem carries the
// current placement.
#include "placement/minmax.hpp"
#include "placement/policy.hpp"

namespace epbench {

PlacementPolicy make_minmax_policy() {
  return {"minmax",
          "min-max GPU load under EPLB's constraints: EPLB start, local search, exact on small "
          "instances; never worse than eplb",
          [](const EplbProblem& p) {
            MinmaxResult r = minmax_placement(p);
            return PolicyResult{std::move(r.placement), r.policy_used,
                                std::move(r.proven_optimal)};
          }};
}

}  // namespace epbench
