// Group-limited top-k on hand-made and random logits, against a brute-force reference that
// sorts everything (no incremental selection), for softmax and sigmoid scoring.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "gating/topk.hpp"

namespace epbench::gating {
namespace {

struct Selection {
  std::vector<int32_t> ids;
  std::vector<float> weights;
};

Selection select(const RouterConfig& c, const std::vector<float>& logits) {
  const int tokens = static_cast<int>(logits.size()) / c.num_experts;
  Selection s{std::vector<int32_t>(size_t(tokens) * c.top_k),
              std::vector<float>(size_t(tokens) * c.top_k)};
  select_topk_from_logits(c, logits, tokens, s.ids, s.weights);
  return s;
}

// Reference for one token: full sorts with explicit (value desc, index asc) ordering.
std::vector<int32_t> reference_ids(const RouterConfig& c, const float* logits) {
  const int E = c.num_experts, per = c.experts_per_group();
  std::vector<double> scores(E);
  if (c.score == ScoreFunction::kSigmoid) {
    for (int e = 0; e < E; ++e) scores[e] = 1.0 / (1.0 + std::exp(-double(logits[e])));
  } else {
    double z = 0;
    for (int e = 0; e < E; ++e) z += std::exp(double(logits[e]));
    for (int e = 0; e < E; ++e) scores[e] = std::exp(double(logits[e])) / z;
  }
  std::vector<double> group_scores(c.n_group);
  for (int g = 0; g < c.n_group; ++g) {
    std::vector<double> v(scores.begin() + g * per, scores.begin() + (g + 1) * per);
    std::sort(v.rbegin(), v.rend());
    group_scores[g] = c.score == ScoreFunction::kSoftmax ? v[0] : v[0] + (per > 1 ? v[1] : 0);
  }
  std::vector<int> groups(c.n_group);
  std::iota(groups.begin(), groups.end(), 0);
  std::stable_sort(groups.begin(), groups.end(),
                   [&](int a, int b) { return group_scores[a] > group_scores[b]; });
  std::vector<int> candidates;
  for (int e = 0; e < E; ++e)
    if (std::find(groups.begin(), groups.begin() + c.topk_group, e / per) !=
        groups.begin() + c.topk_group)
      candidates.push_back(e);
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](int a, int b) { return scores[a] > scores[b]; });
  return std::vector<int32_t>(candidates.begin(), candidates.begin() + c.top_k);
}

RouterConfig deepseek_like(ScoreFunction score) {
  RouterConfig c;
  c.hidden = 16;
  c.num_experts = 32;
  c.top_k = 4;
  c.n_group = 8;
  c.topk_group = 2;
  c.score = score;
  return c;
}

TEST(GatingTopK, HandMadeLogitsStayInsideTheBestGroups) {
  // 4 groups of 2. Expert 0 has the single highest logit, but group 0's partner is very low;
  // group 2 (experts 4, 5) and group 3 (6, 7) have two good experts each.
  RouterConfig c;
  c.hidden = 1;
  c.num_experts = 8;
  c.top_k = 2;
  c.n_group = 4;
  c.topk_group = 2;
  c.score = ScoreFunction::kSigmoid;
  const std::vector<float> logits = {5.0f, -9.0f, 0.0f, 0.1f, 3.0f, 2.9f, 2.5f, 2.4f};
  // Sigmoid group scores (top-2 sums): g0 ~ 0.99, g1 ~ 1.02, g2 ~ 1.90, g3 ~ 1.84 -> keep g2, g3.
  Selection s = select(c, logits);
  EXPECT_EQ(s.ids, (std::vector<int32_t>{4, 5}));
  // Softmax groups use the max: g0 (5.0) and g2 (3.0) are kept, so expert 0 then 4.
  c.score = ScoreFunction::kSoftmax;
  s = select(c, logits);
  EXPECT_EQ(s.ids, (std::vector<int32_t>{0, 4}));
}

TEST(GatingTopK, WithoutGroupLimitPicksGlobalTopK) {
  RouterConfig c;
  c.hidden = 1;
  c.num_experts = 6;
  c.top_k = 3;
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 1.5f, 1.5f, 0.0f};
  Selection s = select(c, logits);
  EXPECT_EQ(s.ids, (std::vector<int32_t>{1, 3, 4}));  // tie 3 vs 4 -> lower index first
}

TEST(GatingTopK, MatchesBruteForceOnRandomLogits) {
  std::mt19937 gen(1234);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (ScoreFunction score : {ScoreFunction::kSoftmax, ScoreFunction::kSigmoid}) {
    const RouterConfig c = deepseek_like(score);
    const int tokens = 500;
    std::vector<float> logits(size_t(tokens) * c.num_experts);
    for (float& v : logits) v = normal(gen);
    const Selection s = select(c, logits);
    for (int t = 0; t < tokens; ++t) {
      const std::vector<int32_t> expected = reference_ids(c, logits.data() + t * c.num_experts);
      const std::vector<int32_t> got(s.ids.begin() + t * c.top_k,
                                     s.ids.begin() + (t + 1) * c.top_k);
      ASSERT_EQ(got, expected) << "token " << t << " score " << score_function_name(score);
      std::vector<int32_t> groups;
      for (int32_t e : got) groups.push_back(e / c.experts_per_group());
      std::sort(groups.begin(), groups.end());
      groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
      EXPECT_LE(int(groups.size()), c.topk_group);
    }
  }
}

TEST(GatingTopK, WeightsAreNormalizedOrRawScores) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (ScoreFunction score : {ScoreFunction::kSoftmax, ScoreFunction::kSigmoid}) {
    RouterConfig c = deepseek_like(score);
    std::vector<float> logits(size_t(64) * c.num_experts);
    for (float& v : logits) v = normal(gen);
    const Selection norm = select(c, logits);
    c.normalize_topk = false;
    const Selection raw = select(c, logits);
    ASSERT_EQ(norm.ids, raw.ids);
    for (int t = 0; t < 64; ++t) {
      float sum_norm = 0, sum_raw = 0;
      for (int i = 0; i < c.top_k; ++i) {
        sum_norm += norm.weights[t * c.top_k + i];
        sum_raw += raw.weights[t * c.top_k + i];
        if (i > 0) EXPECT_GE(raw.weights[t * c.top_k + i - 1], raw.weights[t * c.top_k + i]);
      }
      EXPECT_NEAR(sum_norm, 1.0f, 1e-5f);
      // Raw scores: sigmoid values, or softmax probabilities that sum to less than 1.
      EXPECT_GT(sum_raw, 0.0f);
      if (score == ScoreFunction::kSoftmax) EXPECT_LT(sum_raw, 1.0f);
      const float e0 = logits[t * c.num_experts + raw.ids[t * c.top_k]];
      if (score == ScoreFunction::kSigmoid)
        EXPECT_NEAR(raw.weights[t * c.top_k], 1.0f / (1.0f + std::exp(-e0)), 1e-6f);
    }
  }
}

TEST(GatingTopK, RejectsMismatchedBuffers) {
  const RouterConfig c = deepseek_like(ScoreFunction::kSoftmax);
  std::vector<float> logits(c.num_experts * 2);
  std::vector<int32_t> ids(c.top_k);  // room for one token only
  std::vector<float> weights(c.top_k);
  EXPECT_THROW(select_topk_from_logits(c, logits, 2, ids, weights), std::invalid_argument);
}

}  // namespace
}  // namespace epbench::gating
