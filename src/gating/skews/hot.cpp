// hot:K:X: the K hottest ranks have weight X, every other rank weight 1.
#include <string>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const SkewDistribution& hot_skew() {
  static const SkewDistribution entry{
      .name = "hot",
      .usage = "hot:K:X (1 <= K <= experts integer hot experts, 1 <= X <= 1e12 times hotter)",
      .min_params = 2,
      .max_params = 2,
      .check =
          [](const SkewParams& p) {
            std::string problem = check_count(p[0], "K");
            if (problem.empty() && !(p[1] >= 1 && p[1] <= kMaxHotFactor))
              problem = "X must be in [1, 1e12]";
            return problem;
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
