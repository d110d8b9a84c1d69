// zipf:S: the expert of popularity rank r (0 = hottest) has weight (r + 1)^-S.
#include <cmath>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const SkewDistribution& zipf_skew() {
  static const SkewDistribution entry{
      .name = "zipf",
      .usage = "zipf:S (0 < S <= 64)",
      .min_params = 1,
      .max_params = 1,
      .check = [](const SkewParams& p) { return check_exponent(p[0], "S"); },
      .weights =
          [](const SkewParams& p, int experts, int) {
            std::vector<double> w(experts);
            for (int r = 0; r < experts; ++r) w[r] = std::pow(r + 1.0, -p[0]);
            return w;
          },
  };
  return entry;
}

}  // namespace epbench::gating
