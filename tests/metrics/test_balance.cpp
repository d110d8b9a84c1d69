// Balance metric definitions (formulas in src/metrics/balance.hpp).
#include <gtest/gtest.h>

#include "metrics/balance.hpp"

namespace {

TEST(Balance, Definitions) {
  std::vector<double> loads = {10, 20, 30, 40};  // mean 25, max 40
  EXPECT_DOUBLE_EQ(epbench::balancedness(loads), 25.0 / 40.0);
  EXPECT_DOUBLE_EQ(epbench::imbalance_ratio(loads), 40.0 / 25.0);
  EXPECT_DOUBLE_EQ(epbench::trtllm_imbalance(loads), 15.0 / 25.0);
  std::vector<double> even = {5, 5, 5};
  EXPECT_DOUBLE_EQ(epbench::balancedness(even), 1.0);
  EXPECT_DOUBLE_EQ(epbench::trtllm_imbalance(even), 0.0);
}

TEST(Balance, VllmSumsOverLayersBeforeDividing) {
  // Layer 0: mean 1, max 2. Layer 1: mean 10, max 10.
  std::vector<std::vector<double>> layers = {{0, 2}, {10, 10}};
  EXPECT_DOUBLE_EQ(epbench::vllm_balancedness(layers), 11.0 / 12.0);
  // The mean of per-layer balancedness would be (0.5 + 1) / 2 = 0.75: a different number.
  EXPECT_NE(epbench::vllm_balancedness(layers), 0.75);
}

TEST(Balance, NoLoadIsBalanced) {
  std::vector<double> zero = {0, 0};
  EXPECT_DOUBLE_EQ(epbench::balancedness(zero), 1.0);
  EXPECT_THROW(epbench::load_stats({}), std::invalid_argument);
}

}  // namespace
