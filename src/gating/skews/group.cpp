// group:S[:G]: zipf with exponent S over whole groups of E/G consecutive popularity ranks
// (group g has weight (g + 1)^-S per expert), equal inside a group. G defaults to n_group.
#include <cmath>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const SkewDistribution& group_skew() {
  static const SkewDistribution entry{
      .name = "group",
      .usage = "group:S[:G] (zipf with S > 0 over whole groups; G groups, default n_group)",
      .min_params = 1,
      .max_params = 2,
      .grouped = true,
      .check =
          [](const SkewParams& p) {
            if (!(p[0] > 0)) return std::string("S must be > 0");
            if (p.size() == 2 && (!is_integer_value(p[1]) || p[1] < 1))
              return std::string("G must be an integer >= 1");
            return std::string();
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
