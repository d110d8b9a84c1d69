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
  std::vector<double> sorted(samples.begin(), samples.end());
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  s.median = percentile(sorted, 50.0);
  s.p99 = percentile(sorted, 99.0);
  s.min = sorted.front();
  s.max = sorted.back();
  // Order-statistic CI of the median: ranks (1-based) j = floor(n/2 - 1.96 sqrt(n)/2) and
  // k = ceil(n/2 + 1.96 sqrt(n)/2) + 1 cover the median with >= 95 % probability.
  const double half_width = 1.96 * std::sqrt(double(n)) / 2.0;
  const long lo = static_cast<long>(std::floor(n / 2.0 - half_width));
  const long hi = static_cast<long>(std::ceil(n / 2.0 + half_width)) + 1;
  s.ci95_low = sorted[static_cast<size_t>(std::clamp<long>(lo, 1, long(n)) - 1)];
  s.ci95_high = sorted[static_cast<size_t>(std::clamp<long>(hi, 1, long(n)) - 1)];
  return s;
}

}  // namespace epbench
