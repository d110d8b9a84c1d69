// Skew specs: a named per-expert distribution ("uniform", "zipf:S", "hot:K:X", "group:S[:G]",
// "lognormal:SIGMA"; the entries live in gating/skews/, one file each). The named distribution
// is the realized share of (token, k) rows per expert, capped at one row per token per expert
// (share <= 1/top_k, water-filled: see gating/shares.hpp). The Router calibrates its logit bias
// so realized shares match these target shares (gating/calibration.hpp, docs/gating.md).
// Shares here are by popularity *rank* (rank 0 = hottest); the Router maps ranks to expert ids
// with a seeded permutation and applies drift.
#pragma once

#include <string>
#include <vector>

namespace epbench::gating {

struct SkewSpec {
  std::string distribution = "uniform";
  std::vector<double> params;

  // Throws InputError naming the spec on an unknown distribution, a wrong parameter count or
  // a parameter out of range: every parameter is bounded here (gating/skews/
  // skew_distribution.hpp), checks that need the expert count are in validate_for.
  static SkewSpec parse(const std::string& spec);
  std::string str() const;  // canonical text, parse(str()) == *this

  // Checks against a router shape (e.g. hot:K needs K <= experts); InputError naming the spec.
  void validate_for(int num_experts, int n_group) const;
  // The named distribution by rank (r = 0 hottest), normalized to sum 1, before the per-token
  // cap. Calls validate_for.
  std::vector<double> rank_popularity(int num_experts, int n_group) const;
  // Target share of (token, k) rows by rank: rank_popularity water-filled under the cap of
  // 1/top_k (one row per token per expert). Sums to 1. InputError unless 1 <= top_k <= experts.
  std::vector<double> rank_target_shares(int num_experts, int n_group, int top_k) const;
  // Grouped distributions skew whole groups: the rank -> expert permutation must keep groups.
  bool is_grouped() const;
  // Group count used by a grouped distribution (explicit G, else the router's n_group).
  int num_groups(int n_group) const;

  bool operator==(const SkewSpec&) const = default;
};

// "uniform, zipf:S (0 < S <= 64), ..." for help texts and error messages.
std::string skew_distribution_usage();

}  // namespace epbench::gating
