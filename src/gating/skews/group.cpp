// group:S[:G]: zipf with exponent S over whole groups of E/G consecutive popularity ranks
// (group g has weight (g + 1)^-S per expert), equal inside a group. G defaults to n_group.
#include <cmath>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const SkewDistribution& group_skew() {
  static const SkewDistribution entry{
      .name = "group",
      .usage = "group:S[:G] (zipf with 0 < S <= 64 over whole groups; G groups, default "
               "n_group)",
      .min_params = 1,
      .max_params = 2,
      .grouped = true,
      .check =
          [](const SkewParams& p) {
            std::string problem = check_exponent(p[0], "S");
            if (problem.empty() && p.size() == 2) problem = check_count(p[1], "G");
            return problem;
          },
      .weights =
          [](const SkewParams& p, int experts, int groups) {
            const int per_group = experts / groups;
            std::vector<double> w(experts);
            for (int r = 0; r < experts; ++r) w[r] = std::pow(r / per_group + 1.0, -p[0]);
            return w;
          },
  };
  return entry;
}

}  // namespace epbench::gating
