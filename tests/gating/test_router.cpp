// Router end to end: deterministic outputs, realized loads that follow the skew popularity,
// near-even loads without skew, and drift that moves the hottest expert over steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "bf16.hpp"
#include "common/error.hpp"
#include "gating/router.hpp"

namespace epbench::gating {
namespace {

RouterConfig small_config() {
  RouterConfig c;
  c.hidden = 256;
  c.num_experts = 32;
  c.top_k = 2;
  return c;
}

RouterConfig grouped_config() {
  RouterConfig c;
  c.hidden = 128;
  c.num_experts = 64;
  c.top_k = 4;
  c.n_group = 8;
  c.topk_group = 4;
  c.score = ScoreFunction::kSigmoid;
  return c;
}

struct Routed {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

Routed route(const Router& router, int tokens, int step, uint64_t input_seed, int rank = 0) {
  const RouterConfig& c = router.config();
  std::vector<float> hidden(size_t(tokens) * c.hidden);
  make_hidden_states(input_seed, 0, step, rank, tokens, c.hidden, hidden);
  Routed r{std::vector<int32_t>(size_t(tokens) * c.top_k),
           std::vector<float>(size_t(tokens) * c.top_k)};
  router.route(hidden, tokens, step, r.ids, r.weights);
  return r;
}

int argmax(const std::vector<double>& v) {
  return int(std::max_element(v.begin(), v.end()) - v.begin());
}

std::vector<double> as_double(const std::vector<int64_t>& v) { return {v.begin(), v.end()}; }

TEST(GatingRouter, HiddenStatesAreDeterministicBf16AndNonTrivial) {
  std::vector<float> a(4 * 64), b(4 * 64), c(4 * 64);
  make_hidden_states(5, 1, 2, 3, 4, 64, a);
  make_hidden_states(5, 1, 2, 3, 4, 64, b);
  make_hidden_states(5, 1, 2, 4, 4, 64, c);  // another rank
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double sum_sq = 0;
  for (float v : a) {
    EXPECT_EQ(v, kernels::round_to_bf16(v));
    sum_sq += double(v) * v;
  }
  EXPECT_NEAR(sum_sq / a.size(), 1.0, 0.3);  // N(0, 1)
}

TEST(GatingRouter, SameSeedSameRoutingDifferentSeedDifferent) {
  const SkewSpec skew = SkewSpec::parse("zipf:1.2");
  const Router a(small_config(), skew, 0.0, 42, 3), b(small_config(), skew, 0.0, 42, 3);
  const Router other_seed(small_config(), skew, 0.0, 43, 3);
  const Routed ra = route(a, 512, 0, 7), rb = route(b, 512, 0, 7);
  EXPECT_EQ(ra.ids, rb.ids);
  EXPECT_EQ(ra.weights, rb.weights);
  EXPECT_NE(ra.ids, route(other_seed, 512, 0, 7).ids);
  EXPECT_NE(ra.ids, route(a, 512, 0, 8).ids);  // other inputs
  EXPECT_NE(a.weights(), other_seed.weights());
}

TEST(GatingRouter, EachTokenGetsDistinctValidExpertsWithNormalizedWeights) {
  const Router router(grouped_config(), SkewSpec::parse("group:1"), 0.0, 9, 1);
  const RouterConfig& c = router.config();
  const Routed r = route(router, 300, 0, 1);
  for (int t = 0; t < 300; ++t) {
    std::set<int32_t> unique(r.ids.begin() + t * c.top_k, r.ids.begin() + (t + 1) * c.top_k);
    EXPECT_EQ(int(unique.size()), c.top_k) << "token " << t;
    EXPECT_GE(*unique.begin(), 0);
    EXPECT_LT(*unique.rbegin(), c.num_experts);
    std::set<int32_t> groups;
    for (int32_t e : unique) groups.insert(e / c.experts_per_group());
    EXPECT_LE(int(groups.size()), c.topk_group);
    float sum = 0;
    for (int i = 0; i < c.top_k; ++i) sum += r.weights[t * c.top_k + i];
    EXPECT_NEAR(sum, 1.0f, 1e-5f);
  }
}

TEST(GatingRouter, UniformSkewGivesNearEvenLoads) {
  const Router router(small_config(), SkewSpec::parse("uniform"), 0.0, 11, 0);
  const int tokens = 16384;
  const auto counts = count_tokens_per_expert(route(router, tokens, 0, 3).ids, 32);
  const double mean = double(tokens) * 2 / 32;
  for (int e = 0; e < 32; ++e) EXPECT_NEAR(counts[e] / mean, 1.0, 0.15) << "expert " << e;
}

TEST(GatingRouter, ZipfLoadsFollowPopularity) {
  const Router router(small_config(), SkewSpec::parse("zipf:1.2"), 0.0, 11, 0);
  const int tokens = 16384;
  const auto counts = as_double(count_tokens_per_expert(route(router, tokens, 0, 3).ids, 32));
  const std::vector<double> pop = router.popularity(0);
  const std::vector<int>& order = router.expert_of_rank();  // hottest first
  const double mean = double(tokens) * 2 / 32;
  EXPECT_EQ(argmax(counts), order[0]);
  EXPECT_GT(counts[order[0]] / mean, 4.0) << "hottest expert should be several times the mean";
  EXPECT_GT(counts[order[0]], counts[order[1]]);
  std::vector<double> block_load(8, 0);  // blocks of 4 consecutive popularity ranks
  for (int r = 0; r < 32; ++r) block_load[r / 4] += counts[order[r]];
  for (int b = 0; b + 1 < 8; ++b) EXPECT_GT(block_load[b], block_load[b + 1]) << "block " << b;
  for (int r = 0; r < 32; ++r)  // realized share within a loose band of the popularity
    EXPECT_NEAR(counts[order[r]] / (2.0 * tokens) / pop[order[r]], 1.0, 0.45) << "rank " << r;
  EXPECT_LT(counts[order[31]], 0.5 * mean);
  EXPECT_GT(pop[order[0]], pop[order[31]]);
}

TEST(GatingRouter, HotExpertsGetMoreTokens) {
  const Router router(small_config(), SkewSpec::parse("hot:3:6"), 0.0, 5, 2);
  const auto counts = as_double(count_tokens_per_expert(route(router, 8192, 0, 1).ids, 32));
  const std::vector<int>& order = router.expert_of_rank();
  double coldest_hot = 1e30, hottest_cold = 0;
  for (int r = 0; r < 3; ++r) coldest_hot = std::min(coldest_hot, counts[order[r]]);
  for (int r = 3; r < 32; ++r) hottest_cold = std::max(hottest_cold, counts[order[r]]);
  EXPECT_GT(coldest_hot, 2.0 * hottest_cold);
}

TEST(GatingRouter, GroupSkewHeatsWholeRouterGroups) {
  const Router router(grouped_config(), SkewSpec::parse("group:1.5"), 0.0, 5, 0);
  const RouterConfig& c = router.config();
  const auto counts = count_tokens_per_expert(route(router, 8192, 0, 1).ids, c.num_experts);
  const std::vector<double> pop = router.popularity(0);
  std::vector<double> group_load(c.n_group, 0), group_pop(c.n_group, 0);
  for (int e = 0; e < c.num_experts; ++e) {
    group_load[e / c.experts_per_group()] += counts[e];
    group_pop[e / c.experts_per_group()] += pop[e];
  }
  // Popularity is constant inside a group; the most popular group carries the most tokens.
  for (int e = 0; e < c.num_experts; ++e)
    EXPECT_DOUBLE_EQ(pop[e], pop[(e / c.experts_per_group()) * c.experts_per_group()]);
  const int hot_group = argmax(group_pop);
  EXPECT_EQ(argmax(group_load), hot_group);
  std::vector<double> sorted = group_load;
  std::sort(sorted.rbegin(), sorted.rend());
  EXPECT_GT(sorted[0], 1.5 * sorted[c.n_group - 1]);
}

TEST(GatingRouter, DriftMovesTheHottestExpert) {
  const Router still(small_config(), SkewSpec::parse("zipf:1.2"), 0.0, 11, 0);
  const Router drifting(small_config(), SkewSpec::parse("zipf:1.2"), 0.5, 11, 0);
  EXPECT_EQ(still.popularity(0), still.popularity(10));
  EXPECT_EQ(drifting.popularity(0), still.popularity(0));
  const int hot0 = argmax(drifting.popularity(0));
  const int hot2 = argmax(drifting.popularity(2));  // shift 1 rank
  EXPECT_NE(hot0, hot2);
  // Half a rank: popularity is the average of the neighbouring ranks' (smooth drift).
  const std::vector<double> half = drifting.popularity(1), p0 = drifting.popularity(0),
                            p2 = drifting.popularity(2);
  for (int e = 0; e < 32; ++e) EXPECT_NEAR(half[e], 0.5 * (p0[e] + p2[e]), 1e-12);
  // Realized loads follow: the hottest expert differs between step 0 and step 2.
  const auto c0 = as_double(count_tokens_per_expert(route(drifting, 8192, 0, 1).ids, 32));
  const auto c2 = as_double(count_tokens_per_expert(route(drifting, 8192, 2, 1).ids, 32));
  EXPECT_EQ(argmax(c0), hot0);
  EXPECT_EQ(argmax(c2), hot2);
}

TEST(GatingRouter, FlopsAndCountsHelpers) {
  const Router router(small_config(), SkewSpec::parse("uniform"), 0.0, 1, 0);
  EXPECT_DOUBLE_EQ(router.flops_per_token(), 2.0 * 256 * 32);
  const std::vector<int32_t> ids = {0, 2, 2, 3};
  EXPECT_EQ(count_tokens_per_expert(ids, 4), (std::vector<int64_t>{1, 0, 2, 1}));
  const std::vector<int32_t> bad = {0, 4};
  EXPECT_THROW(count_tokens_per_expert(bad, 4), InputError);
}

}  // namespace
}  // namespace epbench::gating
