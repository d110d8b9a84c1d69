// Load-balance metrics; formulas in balance.hpp.
#include "metrics/balance.hpp"

#include <algorithm>
#include <stdexcept>

namespace epbench {

LoadStats load_stats(std::span<const double> loads) {
  if (loads.empty()) throw std::invalid_argument("load_stats: empty load vector");
  LoadStats s;
  s.max = *std::max_element(loads.begin(), loads.end());
  s.min = *std::min_element(loads.begin(), loads.end());
  for (double x : loads) s.total += x;
  s.mean = s.total / static_cast<double>(loads.size());
  return s;
}

double balancedness(std::span<const double> loads) {
  LoadStats s = load_stats(loads);
  return s.max > 0.0 ? s.mean / s.max : 1.0;
}

double imbalance_ratio(std::span<const double> loads) {
  LoadStats s = load_stats(loads);
  return s.mean > 0.0 ? s.max / s.mean : 1.0;
}

double trtllm_imbalance(std::span<const double> loads) {
  LoadStats s = load_stats(loads);
  return s.mean > 0.0 ? (s.max - s.mean) / s.mean : 0.0;
}

double vllm_balancedness(const std::vector<std::vector<double>>& loads_per_layer) {
  double sum_mean = 0.0, sum_max = 0.0;
  for (const auto& layer : loads_per_layer) {
    LoadStats s = load_stats(layer);
    sum_mean += s.mean;
    sum_max += s.max;
  }
  return sum_max > 0.0 ? sum_mean / sum_max : 1.0;
}

}  // namespace epbench
