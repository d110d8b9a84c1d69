// Share vectors: water-filling under the one-row-per-token cap (cases where the cap does not
// bind, binds once, cascades, and k == E), and the two distances used to judge calibration.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "gating/shares.hpp"

namespace epbench::gating {
namespace {

double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }

TEST(GatingShares, WaterFillLeavesUncappedWeightsProportional) {
  const std::vector<double> w = {4, 3, 2, 1};
  const auto s = water_fill_shares(w, 2);  // 0.4 <= cap 0.5
  for (int e = 0; e < 4; ++e) EXPECT_NEAR(s[e], w[e] / 10.0, 1e-15);
}

TEST(GatingShares, WaterFillSpreadsTheExcessProportionally) {
  // 10/13 > 1/2: capped; the excess 10/13 - 1/2 goes to the three others in proportion (1:1:1).
  const auto s = water_fill_shares(std::vector<double>{10, 1, 1, 1}, 2);
  EXPECT_DOUBLE_EQ(s[0], 0.5);
  for (int e = 1; e < 4; ++e) EXPECT_NEAR(s[e], 1.0 / 6, 1e-15);
  // Unequal uncapped weights keep their ratio.
  const auto t = water_fill_shares(std::vector<double>{20, 2, 1, 1}, 2);
  EXPECT_DOUBLE_EQ(t[0], 0.5);
  EXPECT_NEAR(t[1] / t[2], 2.0, 1e-12);
  EXPECT_NEAR(sum(t), 1.0, 1e-15);
}

TEST(GatingShares, WaterFillCascadesWhenTheSpreadCrossesTheCap) {
  // k = 3, cap 1/3: 100/164 capped first; spreading its excess lifts 60/164 over the cap too;
  // the four 1s then share the remaining 1/3 equally.
  const auto s = water_fill_shares(std::vector<double>{100, 60, 1, 1, 1, 1}, 3);
  EXPECT_DOUBLE_EQ(s[0], 1.0 / 3);
  EXPECT_DOUBLE_EQ(s[1], 1.0 / 3);
  for (int e = 2; e < 6; ++e) EXPECT_NEAR(s[e], 1.0 / 12, 1e-15);
}

TEST(GatingShares, WaterFillWithKEqualToExpertsIsUniform) {
  const auto s = water_fill_shares(std::vector<double>{9, 5, 1}, 3);
  for (double v : s) EXPECT_NEAR(v, 1.0 / 3, 1e-15);
}

TEST(GatingShares, WaterFillSpreadsEvenlyOverZeroWeights) {
  // Only one expert has weight; with k = 2 it is capped at 1/2, the rest share 1/2 evenly.
  const auto s = water_fill_shares(std::vector<double>{1, 0, 0}, 2);
  EXPECT_DOUBLE_EQ(s[0], 0.5);
  EXPECT_DOUBLE_EQ(s[1], 0.25);
  EXPECT_DOUBLE_EQ(s[2], 0.25);
}

TEST(GatingShares, WaterFillRejectsBadInput) {
  EXPECT_THROW(water_fill_shares(std::vector<double>{1, 1}, 3), std::invalid_argument);
  EXPECT_THROW(water_fill_shares(std::vector<double>{1, 1}, 0), std::invalid_argument);
  EXPECT_THROW(water_fill_shares(std::vector<double>{0, 0}, 1), std::invalid_argument);
  EXPECT_THROW(water_fill_shares(std::vector<double>{1, -1}, 1), std::invalid_argument);
}

TEST(GatingShares, DistancesAndCounts) {
  const std::vector<int64_t> counts = {6, 3, 1, 0};
  const auto realized = shares_from_counts(counts);
  EXPECT_EQ(realized, (std::vector<double>{0.6, 0.3, 0.1, 0.0}));
  const std::vector<double> target = {0.5, 0.3, 0.1, 0.1};
  EXPECT_NEAR(total_variation_distance(target, realized), 0.1, 1e-15);
  EXPECT_NEAR(hottest_relative_error(target, realized), 0.2, 1e-15);
  EXPECT_EQ(total_variation_distance(target, target), 0.0);
  EXPECT_THROW(total_variation_distance(target, std::vector<double>{1.0}), std::invalid_argument);
  EXPECT_EQ(shares_from_counts(std::vector<int64_t>{0, 0}), (std::vector<double>{0, 0}));
}

TEST(GatingShares, ExpectedSamplingTvIsTheBinomialNoise) {
  // 4 experts, top-1, 100 tokens: each count ~ Binomial(100, 1/4), E|share - 1/4| =
  // sqrt(2/pi) * sqrt(0.25 * 0.75 / 100); TV = half the sum over experts.
  const std::vector<double> uniform(4, 0.25);
  const double per_expert = std::sqrt(2.0 / M_PI) * std::sqrt(0.25 * 0.75 / 100);
  EXPECT_NEAR(expected_sampling_tv(uniform, 1, 100), 0.5 * 4 * per_expert, 1e-15);
  // An expert every token picks (share 1/k) adds no noise; more tokens, less noise (1/sqrt(T)).
  EXPECT_EQ(expected_sampling_tv(std::vector<double>{0.5, 0.5}, 2, 10), 0.0);
  EXPECT_NEAR(expected_sampling_tv(uniform, 1, 400), 0.5 * expected_sampling_tv(uniform, 1, 100),
              1e-15);
  EXPECT_THROW(expected_sampling_tv(uniform, 0, 100), std::invalid_argument);
}

}  // namespace
}  // namespace epbench::gating
