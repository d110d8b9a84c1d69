// The one list of skew distributions; each entry lives in its own file in this folder.
#include <cmath>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {

const std::vector<const SkewDistribution*>& skew_distributions() {
  static const std::vector<const SkewDistribution*> list = {
      &uniform_skew(), &zipf_skew(), &hot_skew(), &group_skew(), &lognormal_skew(),
  };
  return list;
}

bool is_integer_value(double v) { return std::isfinite(v) && v == std::floor(v); }

}  // namespace epbench::gating
