// The skew distribution registry: one SkewDistribution entry per named distribution, each
// defined in its own file here (uniform.cpp, zipf.cpp, hot.cpp, group.cpp, lognormal.cpp) and
// listed once in registry.cpp. SkewSpec (gating/skew.hpp) parses specs against this list.
// Adding a distribution = one new file with its entry + one line in registry.cpp.
#pragma once

#include <string>
#include <vector>

namespace epbench::gating {

using SkewParams = std::vector<double>;

struct SkewDistribution {
  std::string name;
  std::string usage;  // shown in help and errors: "zipf:S (S > 0)"
  size_t min_params = 0, max_params = 0;
  bool grouped = false;  // skews whole router groups (the rank -> expert map keeps groups)
  // Parse-time range checks: empty when fine, else what is wrong ("S must be > 0").
  std::string (*check)(const SkewParams&) = nullptr;
  // Checks that need the expert count (e.g. hot:K needs K <= experts); empty when fine.
  // Grouped distributions' group count is checked by SkewSpec. May be null.
  std::string (*check_for_experts)(const SkewParams&, int num_experts) = nullptr;
  // Unnormalized weight per popularity rank (rank 0 hottest, non-increasing, all > 0) for
  // `num_experts` experts in `num_groups` groups (1 unless grouped).
  std::vector<double> (*weights)(const SkewParams&, int num_experts, int num_groups) = nullptr;
};

const SkewDistribution& uniform_skew();
const SkewDistribution& zipf_skew();
const SkewDistribution& hot_skew();
const SkewDistribution& group_skew();
const SkewDistribution& lognormal_skew();

// Every distribution, in the order help texts list them (registry.cpp).
const std::vector<const SkewDistribution*>& skew_distributions();

// Shared parameter checks.
bool is_integer_value(double v);

}  // namespace epbench::gating
