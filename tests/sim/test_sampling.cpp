// Count sampling: multinomial totals, determinism, means and variances against the binomial,
// and the one-row-per-token cap (water-filling).
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "sim/traffic.hpp"

using namespace epbench::sim;

TEST(SampleCounts, SumsToRowsAndIsDeterministic) {
  const std::vector<double> shares = {0.5, 0.25, 0.125, 0.0, 0.125};
  std::vector<int64_t> a(5), b(5), c(5);
  for (int64_t rows : {0, 1, 7, 100, 100000}) {
    sample_counts(shares, rows, 42, a);
    sample_counts(shares, rows, 42, b);
    sample_counts(shares, rows, 43, c);
    EXPECT_EQ(std::accumulate(a.begin(), a.end(), int64_t{0}), rows);
    EXPECT_EQ(a, b);
    EXPECT_EQ(a[3], 0) << "a zero share never gets rows";
    for (int64_t x : a) EXPECT_GE(x, 0);
  }
  EXPECT_NE(a, c) << "another key gives another sample";
}

// Mean and variance per expert over many keys match the multinomial's n p and n p (1 - p), for
// small means (inversion) and large ones (normal approximation).
TEST(SampleCounts, MomentsMatchTheMultinomial) {
  std::vector<double> shares(16);
  for (int e = 0; e < 16; ++e) shares[e] = 1.0 / std::pow(e + 1, 1.2);
  const double total = std::accumulate(shares.begin(), shares.end(), 0.0);
  for (double& s : shares) s /= total;
  for (int64_t rows : {int64_t(40), int64_t(5000)}) {
    const int draws = 4000;
    std::vector<double> sum(16, 0), sum2(16, 0);
    std::vector<int64_t> out(16);
    for (int d = 0; d < draws; ++d) {
      sample_counts(shares, rows, 1000 + d, out);
      for (int e = 0; e < 16; ++e) {
        sum[e] += double(out[e]);
        sum2[e] += double(out[e]) * out[e];
      }
    }
    for (int e = 0; e < 16; ++e) {
      const double mean = sum[e] / draws, var = sum2[e] / draws - mean * mean;
      const double n_p = rows * shares[e], n_pq = n_p * (1 - shares[e]);
      EXPECT_NEAR(mean, n_p, 5 * std::sqrt(n_pq / draws) + 1e-9) << "rows " << rows << " e " << e;
      EXPECT_NEAR(var, n_pq, 0.12 * n_pq + 0.05) << "rows " << rows << " e " << e;
    }
  }
}

TEST(CappedShares, NoExpertAboveOneOverKAndMassKept) {
  const std::vector<double> pop = {10, 1, 1, 1, 1, 1};
  const auto s = capped_shares(pop, 2);
  EXPECT_NEAR(std::accumulate(s.begin(), s.end(), 0.0), 1.0, 1e-12);
  EXPECT_NEAR(s[0], 0.5, 1e-12);
  for (int e = 1; e < 6; ++e) EXPECT_NEAR(s[e], 0.1, 1e-12) << "excess spread proportionally";
  const auto u = capped_shares(std::vector<double>{1, 2, 3}, 1);
  EXPECT_NEAR(u[2], 0.5, 1e-12) << "top-1: no cap binds below 1";
}
