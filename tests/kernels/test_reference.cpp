// swiglu_reference against hand-computed values, and the tolerance helpers.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "expert_ffn.hpp"
#include "reference.hpp"

namespace ek = epbench::kernels;

namespace {
double silu(double a) { return a / (1 + std::exp(-a)); }
}  // namespace

TEST(SwigluReference, HandComputedTwoByTwo) {
  // H = 2, F = 2; all weights are bf16-exact.
  const ek::FfnShape shape{2, 2};
  const float w1[2][2] = {{0.5f, -1.0f}, {0.25f, 2.0f}};
  const float w3[2][2] = {{1.0f, 0.5f}, {-0.75f, 1.5f}};
  const float w2[2][2] = {{2.0f, -0.5f}, {1.0f, 0.125f}};
  std::vector<ek::bf16_t> w;
  for (const auto* m : {&w1, &w3, &w2})
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 2; ++c) w.push_back(ek::float_to_bf16((*m)[r][c]));
  const float x[2][2] = {{1.0f, 0.25f}, {-2.0f, 0.25f}};
  float y[2][2];
  ek::swiglu_reference(w.data(), shape, &x[0][0], 2, &y[0][0]);
  for (int t = 0; t < 2; ++t) {
    double h[2];
    for (int f = 0; f < 2; ++f) {
      const double a = w1[f][0] * x[t][0] + w1[f][1] * x[t][1];
      const double b = w3[f][0] * x[t][0] + w3[f][1] * x[t][1];
      h[f] = silu(a) * b;
    }
    for (int i = 0; i < 2; ++i)
      EXPECT_NEAR(y[t][i], w2[i][0] * h[0] + w2[i][1] * h[1], 1e-6) << "t=" << t << " i=" << i;
  }
  EXPECT_NE(y[0][0], 0.0f);  // the data exercises every term
  EXPECT_NE(y[1][1], 0.0f);
}

TEST(SwigluReference, ZeroTokensIsANoOp) {
  std::vector<ek::bf16_t> w(3 * 4 * 4);
  ek::make_expert_weights(1, 0, 0, {4, 4}, w.data());
  float y = 42.0f;
  ek::swiglu_reference(w.data(), {4, 4}, nullptr, 0, &y);
  EXPECT_EQ(y, 42.0f);
}

TEST(Tolerance, CountsWrongTokens) {
  const int H = 4;
  const float ref[2][H] = {{1.0f, -2.0f, 0.5f, 3.0f}, {0.25f, 0.5f, -1.0f, 2.0f}};
  std::vector<ek::bf16_t> y;
  for (int t = 0; t < 2; ++t)
    for (int i = 0; i < H; ++i) y.push_back(ek::float_to_bf16(ref[t][i]));
  EXPECT_EQ(ek::count_wrong_tokens(y.data(), &ref[0][0], 2, H), 0);
  EXPECT_DOUBLE_EQ(ek::token_relative_error(y.data(), &ref[0][0], H), 0.0);
  y[H + 3] = ek::float_to_bf16(2.5f);  // token 1 off by 0.5 / ||ref|| ~ 21 %
  EXPECT_EQ(ek::count_wrong_tokens(y.data(), &ref[0][0], 2, H), 1);
  y[0] = ek::float_to_bf16(NAN);
  EXPECT_EQ(ek::count_wrong_tokens(y.data(), &ref[0][0], 2, H), 2);
}
