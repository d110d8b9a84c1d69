// The named skew is what routing realizes: shares of (token, k) rows routed by the calibrated
// Router for fresh tokens (other seed/step/rank than the calibration sample) match the target
// shares within 10 % on the hottest expert and a total-variation distance <= 0.05, for the
// preset shapes without group limits (small 32-expert gate, qwen3-30b-a3b, mixtral-8x7b), the
// small preset's group-limited softmax gate, under drift, and where the per-token cap binds.
// DeepSeek-V3-style sigmoid group limits: what they reach, and what they cannot (a capped
// expert's group must win every token). The uncalibrated bias these replace (0.6 * ln(E p))
// realized zipf:1.2 on the small preset as hottest/mean 4.3 where 5.8 is named (-26 %).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gating/calibration.hpp"
#include "gating/router.hpp"
#include "gating/shares.hpp"

namespace epbench::gating {
namespace {

constexpr double kMaxTotalVariation = 0.05;
constexpr double kMaxHottestError = 0.10;
constexpr uint64_t kRouterSeed = 2024;

RouterConfig shape(int hidden, int experts, int top_k, int n_group = 1, int topk_group = 1,
                   ScoreFunction score = ScoreFunction::kSoftmax) {
  return {.hidden = hidden,
          .num_experts = experts,
          .top_k = top_k,
          .n_group = n_group,
          .topk_group = topk_group,
          .score = score};
}

// Fresh tokens: hidden states of (seed 77, layer 0, `step`, rank 1), never the calibration's.
std::vector<float> fresh_tokens(const RouterConfig& c, int tokens, int step) {
  std::vector<float> hidden(size_t(tokens) * c.hidden);
  make_hidden_states(77, 0, step, 1, tokens, c.hidden, hidden);
  return hidden;
}

struct Fit {
  double total_variation, hottest_error;
};

Fit realized_vs_target(const Router& router, const std::vector<float>& hidden, int step) {
  const RouterConfig& c = router.config();
  const int tokens = int(hidden.size() / c.hidden);
  std::vector<int32_t> ids(size_t(tokens) * c.top_k);
  std::vector<float> weights(ids.size());
  router.route(hidden, tokens, step, ids, weights);
  const auto realized = shares_from_counts(count_tokens_per_expert(ids, c.num_experts));
  const auto target = router.target_shares(step);
  return {total_variation_distance(target, realized), hottest_relative_error(target, realized)};
}

void expect_realized_matches_target(const RouterConfig& c, const std::vector<const char*>& skews,
                                    int tokens, double drift = 0.0,
                                    const std::vector<int>& steps = {0}) {
  for (int step : steps) {
    const std::vector<float> hidden = fresh_tokens(c, tokens, step);
    for (const char* skew : skews) {
      const Router router(c, SkewSpec::parse(skew), drift, kRouterSeed, 0);
      const Fit fit = realized_vs_target(router, hidden, step);
      EXPECT_LE(fit.total_variation, kMaxTotalVariation) << skew << " step " << step;
      EXPECT_LE(std::fabs(fit.hottest_error), kMaxHottestError) << skew << " step " << step;
    }
  }
}

const std::vector<const char*> kSkews = {"zipf:1.2", "zipf:0.8", "hot:4:10", "lognormal:1.0"};

TEST(GatingSkewCalibration, Small32ExpertsTop2MatchesTargets) {
  expect_realized_matches_target(shape(256, 32, 2), kSkews, 65536);
}

TEST(GatingSkewCalibration, SmallPresetGroupLimitedSoftmaxMatchesTargets) {
  // The `small` preset: 16 experts, top-2, 4 groups keep 2, softmax (max per group).
  expect_realized_matches_target(shape(256, 16, 2, 4, 2), kSkews, 65536);
}

TEST(GatingSkewCalibration, Qwen3ShapeMatchesTargetsWithTheCapBinding) {
  // zipf:1.2 names 0.27 for the hottest of 128 experts; top-8 caps two experts at 1/8.
  const RouterConfig c = shape(2048, 128, 8);
  EXPECT_DOUBLE_EQ(SkewSpec::parse("zipf:1.2").rank_target_shares(128, 1, 8)[1], 1.0 / 8);
  expect_realized_matches_target(c, kSkews, 8192);
}

TEST(GatingSkewCalibration, MixtralShapeMatchesTargets) {
  expect_realized_matches_target(shape(4096, 8, 2), kSkews, 4096);
}

TEST(GatingSkewCalibration, SteepZipfRealizesTheCap) {
  // zipf:3 on 32 experts names 0.83 for the hottest; with top-2 it can take 1/2 at most: the
  // calibrated router gives it to (almost) every token, the rest water-filled.
  const RouterConfig c = shape(256, 32, 2);
  const Router router(c, SkewSpec::parse("zipf:3"), 0.0, kRouterSeed, 0);
  EXPECT_DOUBLE_EQ(router.rank_target_shares()[0], 0.5);
  const std::vector<float> hidden = fresh_tokens(c, 32768, 0);
  const Fit fit = realized_vs_target(router, hidden, 0);
  EXPECT_LE(fit.total_variation, kMaxTotalVariation);
  EXPECT_GE(fit.hottest_error, -0.01);  // picked by >= 99 % of the tokens
}

TEST(GatingSkewCalibration, BiasFollowsDrift) {
  // Integer shifts rotate the calibrated biases with the shares; fractional ones read the
  // bias off the calibrated share -> bias curve (steps 1 and 3 are half-way, 2 is one rank).
  expect_realized_matches_target(shape(256, 32, 2), {"zipf:1.2", "hot:4:10"}, 32768, 0.5,
                                 {1, 2, 3});
}

TEST(GatingSkewCalibration, DeterministicCachedAndSeeded) {
  const RouterConfig c = shape(128, 32, 4);
  const SkewSpec skew = SkewSpec::parse("lognormal:1.0");
  const Router a(c, skew, 0.0, 5, 1), b(c, skew, 0.0, 5, 1), other(c, skew, 0.0, 6, 1);
  ASSERT_NE(a.calibration(), nullptr);
  EXPECT_EQ(a.calibration(), b.calibration());  // the cached fit
  EXPECT_EQ(a.logit_bias(0), b.logit_bias(0));
  EXPECT_NE(a.logit_bias(0), other.logit_bias(0));
  // Uncached, the fit is the same function of its inputs.
  std::vector<double> target(32);
  for (int r = 0; r < 32; ++r) target[a.expert_of_rank()[r]] = a.rank_target_shares()[r];
  const uint64_t key = 99;
  const BiasCalibration x = calibrate_logit_bias(c, a.weights(), target, key);
  const BiasCalibration y = calibrate_logit_bias(c, a.weights(), target, key);
  EXPECT_EQ(x.bias, y.bias);
  EXPECT_EQ(x.realized_shares, y.realized_shares);
  EXPECT_GT(x.iterations, 0);
  EXPECT_LE(total_variation_distance(target, x.realized_shares), 0.01);
}

TEST(GatingSkewCalibration, UniformNeedsNoBiasAndSharesAreConsistent) {
  const Router uniform(shape(64, 16, 2), SkewSpec::parse("uniform"), 0.0, 1, 0);
  EXPECT_EQ(uniform.calibration(), nullptr);
  for (float b : uniform.logit_bias(3)) EXPECT_EQ(b, 0.0f);
  const Router zipf(shape(64, 16, 2), SkewSpec::parse("zipf:2"), 0.7, 1, 0);
  for (int step : {0, 1, 5}) {
    const auto t = zipf.target_shares(step);
    EXPECT_EQ(t, zipf.popularity(step));  // popularity is the alias
    EXPECT_NEAR(std::accumulate(t.begin(), t.end(), 0.0), 1.0, 1e-12);
    for (double v : t) EXPECT_LE(v, 0.5 + 1e-15);
  }
}

// DeepSeek-V3's gate (sigmoid, group score = sum of the group's top-2 scores, 8 groups keep 4,
// top-8 of 256) at a reduced hidden size (the gate's behaviour does not depend on it). Unless
// the cap binds, calibration reaches the target as without group limits. Where it binds
// (zipf:1.2 caps two experts at 1/8 in different groups), a capped expert must be picked by
// every token, so its group must always be among the 4 kept: a sigmoid score adds at most 1 to
// its group, and groups holding other hot experts win some tokens anyway. The hottest expert
// then stays 10-25 % short of the cap (documented in docs/gating.md).
TEST(GatingSkewCalibration, DeepSeekV3GroupLimitsReachUncappedTargets) {
  const RouterConfig c = shape(512, 256, 8, 8, 4, ScoreFunction::kSigmoid);
  expect_realized_matches_target(c, {"zipf:0.8", "hot:4:10", "lognormal:1.0"}, 16384);
}

TEST(GatingSkewCalibration, DeepSeekV3GroupLimitsFallShortOfACappedExpert) {
  const RouterConfig c = shape(512, 256, 8, 8, 4, ScoreFunction::kSigmoid);
  const Router router(c, SkewSpec::parse("zipf:1.2"), 0.0, kRouterSeed, 0);
  EXPECT_DOUBLE_EQ(router.rank_target_shares()[1], 1.0 / 8);
  const Fit fit = realized_vs_target(router, fresh_tokens(c, 16384, 0), 0);
  EXPECT_LE(fit.total_variation, 0.08);
  EXPECT_LT(fit.hottest_error, -0.05);
  EXPECT_GT(fit.hottest_error, -0.30);
}

}  // namespace
}  // namespace epbench::gating
