// The dense-reference verifier must pass correct outputs and catch wrong ones: a perturbed
// token, a token computed with the wrong expert, a NaN.
#include <gtest/gtest.h>

#include <cmath>

#include "gating/router.hpp"
#include "reference.hpp"
#include "measure/verify.hpp"

namespace {

using epbench::kernels::FfnShape;

struct Case {
  static constexpr int T = 16, K = 2, E = 4;
  FfnShape shape{64, 128};
  uint64_t seed = 11;
  int layer = 1;
  std::vector<float> hidden = std::vector<float>(size_t(T) * 64);
  std::vector<int32_t> ids = std::vector<int32_t>(T * K);
  std::vector<float> weights = std::vector<float>(T * K);
  std::vector<float> combined = std::vector<float>(size_t(T) * 64, 0.0f);

  Case() {
    epbench::gating::make_hidden_states(seed, layer, 0, 0, T, shape.hidden, hidden);
    for (int t = 0; t < T; ++t) {
      ids[t * K] = t % E;
      ids[t * K + 1] = (t + 1) % E;
      weights[t * K] = 0.7f;
      weights[t * K + 1] = 0.3f;
    }
    for (int t = 0; t < T; ++t)
      for (int k = 0; k < K; ++k) add_expert(t, ids[t * K + k], weights[t * K + k]);
  }
  void add_expert(int t, int expert, float w) {
    std::vector<epbench::kernels::bf16_t> wts(shape.weight_elems());
    std::vector<float> y(shape.hidden);
    epbench::kernels::make_expert_weights(seed, layer, expert, shape, wts.data());
    epbench::kernels::swiglu_reference(wts.data(), shape, hidden.data() + t * shape.hidden, 1,
                                       y.data());
    for (int h = 0; h < shape.hidden; ++h) combined[t * shape.hidden + h] += w * y[h];
  }
  epbench::VerifyCounts verify(int sample = 0) const {
    return epbench::verify_layer_output(seed, layer, shape, hidden, ids, weights, K, combined,
                                        sample, epbench::kernels::kBf16OutputRelTol);
  }
};

TEST(Verify, CorrectOutputsPass) {
  Case c;
  auto v = c.verify();
  EXPECT_EQ(v.checked, Case::T);
  EXPECT_EQ(v.wrong, 0);
  EXPECT_LT(v.max_rel_err, 1e-5);
  double norm = 0;
  for (float x : c.combined) norm += x * x;
  EXPECT_GT(norm, 0.0) << "never test on all-zero data";
}

TEST(Verify, PerturbedTokenIsWrong) {
  Case c;
  for (int h = 0; h < c.shape.hidden; ++h) c.combined[3 * c.shape.hidden + h] *= 1.1f;
  auto v = c.verify();
  EXPECT_EQ(v.wrong, 1);
  EXPECT_NEAR(v.max_rel_err, 0.1, 1e-3);
}

TEST(Verify, WrongExpertIsWrong) {
  Case c;
  // Token 5's second expert output replaced by another expert's.
  c.add_expert(5, c.ids[5 * Case::K + 1], -c.weights[5 * Case::K + 1]);
  c.add_expert(5, (c.ids[5 * Case::K + 1] + 2) % Case::E, c.weights[5 * Case::K + 1]);
  EXPECT_EQ(c.verify().wrong, 1);
}

TEST(Verify, NanIsWrongAndSamplingChecksFewerTokens) {
  Case c;
  c.combined[7 * c.shape.hidden] = std::nanf("");
  EXPECT_EQ(c.verify().wrong, 1);
  auto sampled = Case().verify(4);
  EXPECT_EQ(sampled.checked, 4);
  EXPECT_EQ(sampled.wrong, 0);
}

}  // namespace
