// Sample statistics for timings: median, p99 (nearest-rank), min, max.
#pragma once

#include <span>

namespace epbench {

struct SampleStats {
  double median = 0.0;
  double p99 = 0.0;
  double min = 0.0;
  double max = 0.0;
  size_t count = 0;
};

// Percentile q in [0, 100] by nearest rank over a copy of the samples; empty input gives zeros.
double percentile(std::span<const double> samples, double q);
SampleStats sample_stats(std::span<const double> samples);

}  // namespace epbench
