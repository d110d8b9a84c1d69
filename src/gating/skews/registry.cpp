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

std::string check_count(double v, const char* name) {
  if (is_integer_value(v) && v >= 1 && v <= kMaxSkewCount) return {};
  return std::string(name) + " must be an integer in [1, " +
         std::to_string(static_cast<int>(kMaxSkewCount)) + "]";
}

std::string check_exponent(double v, const char* name) {
  if (v > 0 && v <= kMaxSkewExponent) return {};
  return std::string(name) + " must be in (0, " +
         std::to_string(static_cast<int>(kMaxSkewExponent)) + "]";
}

}  // namespace epbench::gating
