// Top-k re-derivation; see topk_check.hpp.
#include "measure/topk_check.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace epbench {
namespace {

constexpr double kFp32Unit = 0x1p-24;

}  // namespace

TopkRederiver::TopkRederiver(const gating::Router& router, int step)
    : router_(router), bias_(router.logit_bias(step)) {}

bool TopkRederiver::matches(const float* x, const int32_t* ids, const float* weights) const {
  const gating::RouterConfig& cfg = router_.config();
  const int E = cfg.num_experts, H = cfg.hidden, K = cfg.top_k;
  const int G = cfg.n_group, per = E / G, keep = cfg.topk_group;
  const std::vector<float>& wr = router_.weights();  // [H][E]

  // Logits in double, with the worst fp32 error of the router's sum (bias + H products).
  std::vector<double> logit(E), delta(E);
  for (int e = 0; e < E; ++e) {
    double s = bias_[e], mag = std::fabs(bias_[e]);
    for (int h = 0; h < H; ++h) {
      const double p = double(x[h]) * wr[size_t(h) * E + e];
      s += p;
      mag += std::fabs(p);
    }
    logit[e] = s;
    delta[e] = (H + 2) * kFp32Unit * mag;
  }
  // Scores and their uncertainty u (logit error carried through, plus fp32 exp/normalization).
  std::vector<double> score(E), unc(E);
  if (cfg.score == gating::ScoreFunction::kSoftmax) {
    const double top = *std::max_element(logit.begin(), logit.end());
    const double max_delta = *std::max_element(delta.begin(), delta.end());
    double sum = 0;
    for (int e = 0; e < E; ++e) sum += (score[e] = std::exp(logit[e] - top));
    for (int e = 0; e < E; ++e) {
      score[e] /= sum;
      unc[e] = score[e] * (delta[e] + max_delta + (E + 16) * kFp32Unit);
    }
  } else {
    for (int e = 0; e < E; ++e) {
      score[e] = 1.0 / (1.0 + std::exp(-logit[e]));
      unc[e] = score[e] * (1.0 - score[e]) * delta[e] + 16 * kFp32Unit * score[e];
    }
  }

  // The router's experts: valid and distinct.
  std::vector<char> chosen(E, 0);
  for (int k = 0; k < K; ++k) {
    if (ids[k] < 0 || ids[k] >= E || chosen[ids[k]]) return false;
    chosen[ids[k]] = 1;
  }

  // Groups the router may have kept: its experts' groups must be among the `keep` best up to
  // uncertainty; experts of groups that are certainly kept compete with the chosen ones.
  std::vector<char> candidate(G, 1);
  if (keep < G) {
    std::vector<double> gscore(G), gunc(G);
    for (int g = 0; g < G; ++g) {
      std::vector<double> s(score.begin() + g * per, score.begin() + (g + 1) * per);
      std::sort(s.begin(), s.end(), std::greater<>());
      gscore[g] = cfg.score == gating::ScoreFunction::kSoftmax || per < 2 ? s[0] : s[0] + s[1];
      gunc[g] = 2.0 * *std::max_element(unc.begin() + g * per, unc.begin() + (g + 1) * per);
    }
    std::vector<double> sorted = gscore;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const double worst_kept = sorted[keep - 1], best_dropped = sorted[keep];
    const double max_unc = *std::max_element(gunc.begin(), gunc.end());
    std::vector<char> used(G, 0);
    int num_used = 0;
    for (int k = 0; k < K; ++k)
      if (!used[ids[k] / per]) used[ids[k] / per] = 1, ++num_used;
    if (num_used > keep) return false;
    for (int g = 0; g < G; ++g) {
      if (used[g] && gscore[g] + gunc[g] + max_unc < worst_kept) return false;
      candidate[g] = used[g] || gscore[g] - gunc[g] - max_unc > best_dropped;
    }
  }
  double min_chosen = INFINITY, max_other = -INFINITY;
  for (int e = 0; e < E; ++e) {
    if (chosen[e]) min_chosen = std::min(min_chosen, score[e] + unc[e]);
    else if (candidate[e / per]) max_other = std::max(max_other, score[e] - unc[e]);
  }
  if (max_other > min_chosen) return false;

  // Weights: the chosen scores, normalized over the chosen set when the router normalizes.
  double sum = 0, sum_unc = 0;
  for (int k = 0; k < K; ++k) sum += score[ids[k]], sum_unc += unc[ids[k]];
  for (int k = 0; k < K; ++k) {
    const double s = score[ids[k]];
    const double want = cfg.normalize_topk ? s / sum : s;
    const double rel = unc[ids[k]] / s + (cfg.normalize_topk ? sum_unc / sum : 0.0);
    const double tol = want * (rel + (K + 8) * kFp32Unit) + 1e-30;
    if (!(std::fabs(double(weights[k]) - want) <= tol)) return false;
  }
  return true;
}

}  // namespace epbench
