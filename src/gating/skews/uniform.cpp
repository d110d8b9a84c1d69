// uniform: every expert equally popular (share 1/E).
#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const SkewDistribution& uniform_skew() {
  static const SkewDistribution entry{
      .name = "uniform",
      .usage = "uniform",
      .min_params = 0,
      .max_params = 0,
      .check = [](const SkewParams&) { return std::string(); },
      .weights = [](const SkewParams&, int experts,
                    int) { return std::vector<double>(experts, 1.0); },
  };
  return entry;
}

}  // namespace epbench::gating
