// lognormal:SIGMA: the expert of popularity rank r has weight exp(SIGMA * z_r), where z_r is
// the standard-normal quantile at (E - r - 0.5) / E: deterministic, rank-ordered, symmetric
// (z_r = -z_{E-1-r}). Measured per-rank/per-expert token counts of real MoE layers are close
// to log-normal; SIGMA is the standard deviation of the log-share.
#include <cmath>

#include "gating/skews/skew_distribution.hpp"

namespace epbench::gating {
namespace {

// Inverse of the standard-normal CDF by bisection on erfc (E <= a few thousand calls, exact to
// double precision and free of approximation tables).
double normal_quantile(double p) {
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace

const SkewDistribution& lognormal_skew() {
  static const SkewDistribution entry{
      .name = "lognormal",
      .usage = "lognormal:SIGMA (0 < SIGMA <= 64, std. dev. of the log-share)",
      .min_params = 1,
      .max_params = 1,
      .check = [](const SkewParams& p) { return check_exponent(p[0], "SIGMA"); },
      .weights =
          [](const SkewParams& p, int experts, int) {
            std::vector<double> w(experts);
            for (int r = 0; r < experts; ++r)
              w[r] = std::exp(p[0] * normal_quantile((experts - r - 0.5) / experts));
            return w;
          },
  };
  return entry;
}

}  // namespace epbench::gating
