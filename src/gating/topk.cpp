// Group-limited top-k selection; see topk.hpp.
#include "gating/topk.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace epbench::gating {
namespace {

// Keeps the best `k` (value, index) pairs seen so far, sorted best first; lower index wins ties
// because candidates arrive in increasing index order and only strictly better ones displace.
class SmallTopK {
 public:
  explicit SmallTopK(int k) : k_(k) { values_.reserve(k); indices_.reserve(k); }
  void clear() { values_.clear(); indices_.clear(); }
  void offer(float value, int index) {
    const int size = static_cast<int>(values_.size());
    if (size == k_ && !(value > values_[size - 1])) return;
    int pos = std::min(size, k_ - 1);
    if (size < k_) { values_.push_back(value); indices_.push_back(index); }
    while (pos > 0 && value > values_[pos - 1]) {
      values_[pos] = values_[pos - 1];
      indices_[pos] = indices_[pos - 1];
      --pos;
    }
    values_[pos] = value;
    indices_[pos] = index;
  }
  int size() const { return static_cast<int>(values_.size()); }
  float value(int i) const { return values_[i]; }
  int index(int i) const { return indices_[i]; }

 private:
  int k_;
  std::vector<float> values_;
  std::vector<int> indices_;
};

void compute_scores(ScoreFunction score, const float* logits, int n, float* scores) {
  if (score == ScoreFunction::kSigmoid) {
    for (int e = 0; e < n; ++e) scores[e] = 1.0f / (1.0f + std::exp(-logits[e]));
    return;
  }
  const float max_logit = *std::max_element(logits, logits + n);
  float sum = 0;
  for (int e = 0; e < n; ++e) sum += (scores[e] = std::exp(logits[e] - max_logit));
  const float inv = 1.0f / sum;
  for (int e = 0; e < n; ++e) scores[e] *= inv;
}

float group_score(ScoreFunction score, const float* scores, int per_group) {
  if (score == ScoreFunction::kSoftmax) return *std::max_element(scores, scores + per_group);
  float best = -INFINITY, second = -INFINITY;  // sum of the top-2 (top-1 for 1-expert groups)
  for (int i = 0; i < per_group; ++i) {
    if (scores[i] > best) { second = best; best = scores[i]; }
    else if (scores[i] > second) second = scores[i];
  }
  return per_group >= 2 ? best + second : best;
}

}  // namespace

void select_topk_from_logits(const RouterConfig& config, std::span<const float> logits,
                             int num_tokens, std::span<int32_t> topk_ids,
                             std::span<float> topk_weights) {
  const int experts = config.num_experts, k = config.top_k;
  const int per_group = config.experts_per_group();
  if (logits.size() != size_t(num_tokens) * experts || topk_ids.size() != size_t(num_tokens) * k ||
      topk_weights.size() != size_t(num_tokens) * k)
    throw std::invalid_argument("select_topk_from_logits: buffer sizes do not match " +
                                std::to_string(num_tokens) + " tokens x (" +
                                std::to_string(experts) + " experts, top " + std::to_string(k) +
                                ")");
  const bool limit_groups = config.topk_group < config.n_group;
  std::vector<float> scores(experts);
  std::vector<char> group_kept(config.n_group, 1);
  SmallTopK best_groups(config.topk_group), best_experts(k);

  for (int t = 0; t < num_tokens; ++t) {
    compute_scores(config.score, logits.data() + size_t(t) * experts, experts, scores.data());
    if (limit_groups) {
      best_groups.clear();
      for (int g = 0; g < config.n_group; ++g)
        best_groups.offer(group_score(config.score, scores.data() + g * per_group, per_group), g);
      std::fill(group_kept.begin(), group_kept.end(), 0);
      for (int i = 0; i < best_groups.size(); ++i) group_kept[best_groups.index(i)] = 1;
    }
    best_experts.clear();
    for (int g = 0; g < config.n_group; ++g) {
      if (!group_kept[g]) continue;
      for (int e = g * per_group; e < (g + 1) * per_group; ++e) best_experts.offer(scores[e], e);
    }
    float sum = 0;
    for (int i = 0; i < k; ++i) sum += best_experts.value(i);
    const float scale = config.normalize_topk && sum > 0 ? 1.0f / sum : 1.0f;
    int32_t* ids = topk_ids.data() + size_t(t) * k;
    float* weights = topk_weights.data() + size_t(t) * k;
    for (int i = 0; i < k; ++i) {
      ids[i] = best_experts.index(i);
      weights[i] = best_experts.value(i) * scale;
    }
  }
}

}  // namespace epbench::gating
