// hot:K:X: the K hottest ranks have weight X, every other rank weight 1.
#include <string>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const SkewDistribution& hot_skew() {
  static const SkewDistribution entry{
      .name = "hot",
      .usage = "hot:K:X (K >= 1 integer hot experts, X >= 1 times hotter)",
      .min_params = 2,
      .max_params = 2,
      .check =
          [](const SkewParams& p) {
            if (!is_integer_value(p[0]) || p[0] < 1)
              return std::string("K must be an integer >= 1");
            if (!(p[1] >= 1)) return std::string("X must be >= 1");
            return std::string();
          },
      .check_for_experts =
          [](const SkewParams& p, int experts) {
            return p[0] <= experts ? std::string()
                                   : "K = " + std::to_string(static_cast<long long>(p[0])) +
                                         " hot experts exceeds the experts";
          },
      .weights =
          [](const SkewParams& p, int experts, int) {
            std::vector<double> w(experts, 1.0);
            for (int r = 0; r < static_cast<int>(p[0]); ++r) w[r] = p[1];
            return w;
          },
  };
  return entry;
}

}  // namespace epbench::gating
