// Skew specs: a named per-expert popularity distribution ("uniform", "zipf:S", "hot:K:X",
// "group:S[:G]"). The router turns popularity into a logit bias so realized loads follow it.
// Popularity here is by *rank* (rank 0 = hottest); the Router maps ranks to expert ids with a
// seeded permutation and applies drift. Adding a distribution = one entry in skew.cpp's table.
#pragma once

#include <string>
#include <vector>

namespace epbench::gating {

struct SkewSpec {
  std::string distribution = "uniform";
  std::vector<double> params;

  // Throws InputError naming the spec on an unknown distribution, a wrong parameter count or
  // a parameter out of range (checks that need the expert count are in validate_for).
  static SkewSpec parse(const std::string& spec);
  std::string str() const;  // canonical text, parse(str()) == *this

  // Checks against a router shape (e.g. hot:K needs K <= experts); InputError naming the spec.
  void validate_for(int num_experts, int n_group) const;
  // Normalized popularity of rank r (r = 0 hottest), sum 1. Calls validate_for.
  std::vector<double> rank_popularity(int num_experts, int n_group) const;
  // Grouped distributions skew whole groups: the rank -> expert permutation must keep groups.
  bool is_grouped() const;
  // Group count used by a grouped distribution (explicit G, else the router's n_group).
  int num_groups(int n_group) const;

  bool operator==(const SkewSpec&) const = default;
};

// "uniform, zipf:S, hot:K:X, group:S[:G]" for help texts and error messages.
std::string skew_distribution_usage();

}  // namespace epbench::gating
