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

// Parse-time bounds on the parameters, before the expert count is known (docs/inputs.md).
// Counts (hot K, group G) stay within the largest model a run accepts (kMaxExperts in
// suite/scenario.hpp, static_assert there), so they convert to int without overflow; the
// shape-dependent checks (K <= experts, G divides the experts) follow in validate_for.
// Exponents (zipf S, group S, lognormal SIGMA) and the hot factor X stay where every rank of
// a 65,536-expert model keeps a finite, positive double share: 65536^-64 = 2^-1024 > 0, and
// lognormal's quantiles there lie within +-4.4, so exp(64 * 4.4) is far from overflow.
// Beyond them a distribution is numerically degenerate (the coldest experts get no rows).
inline constexpr double kMaxSkewCount = 65536;
inline constexpr double kMaxSkewExponent = 64;
inline constexpr double kMaxHotFactor = 1e12;

// Shared parameter checks.
bool is_integer_value(double v);
// Empty when v is an integer in [1, kMaxSkewCount], else "<name> must be an integer in [1, 65536]".
std::string check_count(double v, const char* name);
// Empty when 0 < v <= kMaxSkewExponent, else "<name> must be in (0, 64]".
std::string check_exponent(double v, const char* name);

}  // namespace epbench::gating
