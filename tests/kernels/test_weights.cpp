// make_expert_weights: deterministic, bf16-representable, expected scale, distinct per expert.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "expert_ffn.hpp"

namespace ek = epbench::kernels;

namespace {

std::vector<ek::bf16_t> weights(uint64_t seed, int layer, int expert, ek::FfnShape shape) {
  std::vector<ek::bf16_t> w(shape.weight_elems());
  ek::make_expert_weights(seed, layer, expert, shape, w.data());
  return w;
}

}  // namespace

TEST(ExpertWeights, Deterministic) {
  const ek::FfnShape shape{64, 96};
  EXPECT_EQ(weights(7, 2, 5, shape), weights(7, 2, 5, shape));
}

TEST(ExpertWeights, GoldenValues) {
  // SplitMix64 recipe of expert_weights.cpp, recomputed independently in Python.
  const ek::FfnShape shape{8, 4};
  const auto w = weights(42, 3, 7, shape);
  EXPECT_EQ(w[0], 0x3e48);
  EXPECT_EQ(w[1], 0xbe08);
  EXPECT_EQ(w[2], 0xbe3e);
  EXPECT_EQ(w[3], 0xbe84);
  EXPECT_EQ(w[2 * 8 * 4], 0x3eb0);      // first w2 value
  EXPECT_EQ(w[3 * 8 * 4 - 1], 0xbece);  // last w2 value
}

TEST(ExpertWeights, DifferAcrossExpertsLayersAndSeeds) {
  const ek::FfnShape shape{32, 48};
  const auto base = weights(1, 0, 0, shape);
  for (const auto& other : {weights(1, 0, 1, shape), weights(1, 1, 0, shape),
                            weights(2, 0, 0, shape), weights(1, 1, 1, shape)}) {
    size_t equal = 0;
    for (size_t i = 0; i < base.size(); ++i) equal += base[i] == other[i];
    EXPECT_LT(equal, base.size() / 20);  // unrelated streams agree only by chance
  }
}

TEST(ExpertWeights, ScaleAndNonZero) {
  const ek::FfnShape shape{256, 512};
  const auto w = weights(123, 4, 9, shape);
  const size_t hf = 256 * 512;
  struct Part { size_t begin; double scale; };
  for (const Part part : {Part{0, 1 / std::sqrt(256.0)}, Part{hf, 1 / std::sqrt(256.0)},
                          Part{2 * hf, 1 / std::sqrt(512.0)}}) {
    double sum = 0, sum_abs = 0, max_abs = 0;
    size_t zeros = 0;
    for (size_t i = part.begin; i < part.begin + hf; ++i) {
      const double v = ek::bf16_to_float(w[i]);
      sum += v;
      sum_abs += std::abs(v);
      max_abs = std::max(max_abs, std::abs(v));
      zeros += v == 0.0;
    }
    EXPECT_LE(max_abs, part.scale * (1 + 1.0 / 256));  // ±scale, up to bf16 rounding
    EXPECT_GT(max_abs, part.scale * 0.99);
    EXPECT_NEAR(sum_abs / hf, part.scale / 2, part.scale * 0.01);  // uniform: E|v| = scale/2
    EXPECT_NEAR(sum / hf, 0.0, part.scale * 0.01);
    EXPECT_LT(zeros, hf / 1000);
  }
}

TEST(ExpertWeights, Bf16Representable) {
  // Values are stored as bf16 bits; converting to float and back must be the identity.
  const auto w = weights(5, 0, 3, {64, 64});
  for (ek::bf16_t v : w) ASSERT_EQ(ek::float_to_bf16(ek::bf16_to_float(v)), v);
}

TEST(ExpertWeights, RejectsInvalidArguments) {
  std::vector<ek::bf16_t> w(3 * 4 * 4);
  EXPECT_THROW(ek::make_expert_weights(0, 0, 0, {0, 4}, w.data()), std::invalid_argument);
  EXPECT_THROW(ek::make_expert_weights(0, 0, 0, {4, -1}, w.data()), std::invalid_argument);
  EXPECT_THROW(ek::make_expert_weights(0, -1, 0, {4, 4}, w.data()), std::invalid_argument);
  EXPECT_THROW(ek::make_expert_weights(0, 0, -2, {4, 4}, w.data()), std::invalid_argument);
  EXPECT_THROW(ek::make_expert_weights(0, 0, 0, {4, 4}, nullptr), std::invalid_argument);
}

TEST(ExpertWeights, FastEnoughForHundredsOfExperts) {
  const ek::FfnShape shape{256, 512};
  std::vector<ek::bf16_t> w(shape.weight_elems());
  const auto start = std::chrono::steady_clock::now();
  for (int e = 0; e < 64; ++e) ek::make_expert_weights(9, 0, e, shape, w.data());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(s, 2.0) << "64 experts of 256x512 took " << s << " s";
}
