// Sample statistics for timings: median with a distribution-free 95 % confidence interval,
// p99 (nearest rank; meaningful only with >= kMinSamplesForP99 samples), min, max.
#pragma once

#include <cstddef>
#include <span>

namespace epbench {

// Below this many samples a p99 is just the max: reports say max instead.
inline constexpr size_t kMinSamplesForP99 = 100;

struct SampleStats {
  double median = 0.0;
  double p99 = 0.0;  // nearest rank; equals max when count < 100
  double min = 0.0;
  double max = 0.0;
  // 95 % confidence interval of the median from order statistics (binomial(n, 1/2)): the
  // sorted samples at ranks n/2 -+ 1.96 sqrt(n)/2, clamped to [min, max]; with few samples
  // (n < 6) it is the whole range.
  double ci95_low = 0.0, ci95_high = 0.0;
  size_t count = 0;
  bool has_p99() const { return count >= kMinSamplesForP99; }
};

// Percentile q in [0, 100] by nearest rank over a copy of the samples; empty input gives zeros.
double percentile(std::span<const double> samples, double q);
SampleStats sample_stats(std::span<const double> samples);

}  // namespace epbench
