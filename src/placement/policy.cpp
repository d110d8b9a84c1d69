// The placement policy list; see policy.hpp. Policies are plain factory functions called here
// (no self-registration through static initializers, which a static library link can drop).
#include "placement/policy.hpp"

#include "common/error.hpp"

namespace epbench {

// Every policy, in the order policy_names() lists them: X(name) calls make_<name>_policy()
// from policies/<name>.cpp.
#define EPBENCH_PLACEMENT_POLICIES(X) X(none) X(eplb) X(eplb_global) X(minmax) X(lplb)

#define EPBENCH_DECLARE_POLICY(name) PlacementPolicy make_##name##_policy();
EPBENCH_PLACEMENT_POLICIES(EPBENCH_DECLARE_POLICY)
#undef EPBENCH_DECLARE_POLICY

const std::vector<PlacementPolicy>& placement_policies() {
#define EPBENCH_MAKE_POLICY(name) make_##name##_policy(),
  static const std::vector<PlacementPolicy> policies = {
      EPBENCH_PLACEMENT_POLICIES(EPBENCH_MAKE_POLICY)};
#undef EPBENCH_MAKE_POLICY
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
