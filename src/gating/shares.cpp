// Share vectors: water-filling under the per-token cap and distances; see shares.hpp.
#include "gating/shares.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace epbench::gating {

std::vector<double> water_fill_shares(std::span<const double> weights, int top_k) {
  const int n = static_cast<int>(weights.size());
  if (top_k < 1 || top_k > n)
    throw std::invalid_argument("water_fill_shares: top_k " + std::to_string(top_k) +
                                " outside [1, " + std::to_string(n) + "]");
  double total = 0;
  for (double w : weights) {
    if (!(w >= 0) || !std::isfinite(w))
      throw std::invalid_argument("water_fill_shares: weights must be finite and >= 0");
    total += w;
  }
  if (!(total > 0)) throw std::invalid_argument("water_fill_shares: all weights are 0");
  const double cap = 1.0 / top_k;
  std::vector<double> shares(n);
  for (int e = 0; e < n; ++e) shares[e] = weights[e] / total;
  std::vector<char> capped(n, 0);
  // Each pass caps at least one more expert or ends, so at most n passes; the rounding
  // tolerance keeps an expert that lands exactly on the cap from bouncing.
  for (int pass = 0; pass < n; ++pass) {
    double excess = 0, free_total = 0;
    int free_count = 0;
    for (int e = 0; e < n; ++e) {
      if (!capped[e] && shares[e] > cap * (1 + 1e-12)) {
        excess += shares[e] - cap;
        shares[e] = cap;
        capped[e] = 1;
      }
    }
    if (excess == 0) break;
    for (int e = 0; e < n; ++e)
      if (!capped[e]) free_total += shares[e], ++free_count;
    if (free_count == 0) break;  // only when top_k == n: every share is exactly 1/n
    for (int e = 0; e < n; ++e)
      if (!capped[e])
        shares[e] += free_total > 0 ? excess * shares[e] / free_total : excess / free_count;
  }
  for (int e = 0; e < n; ++e) shares[e] = std::min(shares[e], cap);
  return shares;
}

std::vector<double> shares_from_counts(std::span<const int64_t> counts) {
  const double total = double(std::accumulate(counts.begin(), counts.end(), int64_t{0}));
  std::vector<double> shares(counts.size(), 0.0);
  if (total > 0)
    for (size_t e = 0; e < counts.size(); ++e) shares[e] = double(counts[e]) / total;
  return shares;
}

double total_variation_distance(std::span<const double> a, std::span<const double> b) {
  if (a.size() != b.size())
    throw std::invalid_argument("total_variation_distance: sizes " + std::to_string(a.size()) +
                                " and " + std::to_string(b.size()) + " differ");
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::fabs(a[i] - b[i]);
  return 0.5 * sum;
}

double expected_sampling_tv(std::span<const double> target, int top_k, int64_t num_tokens) {
  if (top_k < 1 || num_tokens < 1)
    throw std::invalid_argument("expected_sampling_tv: top_k and num_tokens must be >= 1");
  double sum = 0;
  for (double share : target) {
    const double p = std::clamp(share * top_k, 0.0, 1.0);
    sum += std::sqrt(p * (1.0 - p) / double(num_tokens)) / top_k;
  }
  return 0.5 * std::sqrt(2.0 / M_PI) * sum;
}

double hottest_relative_error(std::span<const double> target, std::span<const double> realized) {
  if (target.size() != realized.size() || target.empty())
    throw std::invalid_argument("hottest_relative_error: sizes differ or are empty");
  const size_t hot = size_t(std::max_element(target.begin(), target.end()) - target.begin());
  return realized[hot] / target[hot] - 1.0;
}

}  // namespace epbench::gating
