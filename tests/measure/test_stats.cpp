// Sample statistics: the median's 95 % confidence interval from order statistics, and p99
// reported only with enough samples.
#include <gtest/gtest.h>

#include <vector>

#include "measure/samples.hpp"
#include "metrics/stats.hpp"

namespace {

TEST(SampleStats, MedianCiFromOrderStatistics) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  const auto s = epbench::sample_stats(v);
  EXPECT_EQ(s.median, 50);
  // n = 100: ranks floor(50 - 9.8) = 40 and ceil(50 + 9.8) + 1 = 61.
  EXPECT_EQ(s.ci95_low, 40);
  EXPECT_EQ(s.ci95_high, 61);
  EXPECT_TRUE(s.has_p99());
}

TEST(SampleStats, FewSamplesSpanTheRangeAndHaveNoP99) {
  const std::vector<double> v = {3, 1, 2};
  const auto s = epbench::sample_stats(v);
  EXPECT_EQ(s.ci95_low, 1);
  EXPECT_EQ(s.ci95_high, 3);
  EXPECT_FALSE(s.has_p99());
  const auto j = epbench::stats_json(v, 1.0);
  EXPECT_FALSE(j.contains("p99"));
  EXPECT_EQ(j["max"], 3);
}

}  // namespace
