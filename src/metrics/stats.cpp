// Sample statistics; see stats.hpp.
#include "metrics/stats.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace epbench {

double percentile(std::span<const double> samples, double q) {
  if (samples.empty()) return 0.0;
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest value with at least q% of the samples at or below it.
  size_t rank = static_cast<size_t>(std::ceil(q / 100.0 * sorted.size()));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

SampleStats sample_stats(std::span<const double> samples) {
  SampleStats s;
  s.count = samples.size();
  if (samples.empty()) return s;
  s.median = percentile(samples, 50.0);
  s.p99 = percentile(samples, 99.0);
  s.min = *std::min_element(samples.begin(), samples.end());
  s.max = *std::max_element(samples.begin(), samples.end());
  return s;
}

}  // namespace epbench
