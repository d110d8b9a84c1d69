// Router: weights, skew bias, drift and the logits GEMM; see router.hpp.
#include "gating/router.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>

#include "bf16.hpp"
#include "common/error.hpp"
#include "gating/hash_rng.hpp"
#include "gating/topk.hpp"

namespace epbench::gating {
namespace {

// Fisher-Yates over [0, n) driven by counter-based draws.
void shuffle(std::vector<int>& items, uint64_t key) {
  for (size_t i = items.size(); i > 1; --i) {
    const size_t j = splitmix64(hash_key({key, i})) % i;
    std::swap(items[i - 1], items[j]);
  }
}

// Rank -> expert. Grouped skews keep groups intact (shuffle group order, then experts inside
// each group) so "group g is hot" stays a statement about whole router groups.
std::vector<int> make_expert_of_rank(const SkewSpec& skew, int experts, int n_group,
                                     uint64_t seed, int layer) {
  const uint64_t key = hash_key({seed, uint64_t(layer), stream_tag(RngStream::kExpertPermutation)});
  std::vector<int> expert_of_rank(experts);
  if (!skew.is_grouped()) {
    std::iota(expert_of_rank.begin(), expert_of_rank.end(), 0);
    shuffle(expert_of_rank, key);
    return expert_of_rank;
  }
  const int groups = skew.num_groups(n_group), per_group = experts / groups;
  std::vector<int> group_order(groups);
  std::iota(group_order.begin(), group_order.end(), 0);
  shuffle(group_order, key);
  for (int gr = 0; gr < groups; ++gr) {
    std::vector<int> members(per_group);
    std::iota(members.begin(), members.end(), group_order[gr] * per_group);
    shuffle(members, hash_key({key, uint64_t(gr) + 1}));
    std::copy(members.begin(), members.end(), expert_of_rank.begin() + size_t(gr) * per_group);
  }
  return expert_of_rank;
}

// Calibrations by (shape, skew, seed, layer): every Router of the same key has the same Wr and
// target, so later constructions (more policies, more TokenSources) reuse the fit.
std::shared_ptr<const BiasCalibration> cached_calibration(const std::string& key,
                                                          const RouterConfig& config,
                                                          const std::vector<float>& weights,
                                                          const std::vector<double>& target,
                                                          uint64_t sample_key) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const BiasCalibration>> cache;
  {
    std::lock_guard lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  auto fit = std::make_shared<const BiasCalibration>(
      calibrate_logit_bias(config, weights, target, sample_key));
  std::lock_guard lock(mutex);
  return cache.emplace(key, std::move(fit)).first->second;
}

}  // namespace

Router::Router(RouterConfig config, SkewSpec skew, double drift_per_step, uint64_t seed,
               int layer)
    : config_(config), skew_(std::move(skew)), drift_per_step_(drift_per_step), seed_(seed),
      layer_(layer) {
  config_.validate();
  // Bounded by a full rotation (E experts per step), so drift * step stays finite.
  require_input(std::isfinite(drift_per_step) && drift_per_step >= 0 &&
                    drift_per_step <= config_.num_experts,
                "router drift " + std::to_string(drift_per_step) +
                    " experts/step must be in [0, " + std::to_string(config_.num_experts) + "]");
  require_input(layer >= 0, "router layer " + std::to_string(layer) + " must be >= 0");
  rank_target_ = skew_.rank_target_shares(config_.num_experts, config_.n_group, config_.top_k);
  expert_of_rank_ = make_expert_of_rank(skew_, config_.num_experts, config_.n_group, seed, layer);

  // Wr ~ N(0, 1/hidden) per element, then each expert column scaled to unit norm (so with
  // N(0,1) inputs every expert's logit is N(0,1) and uniform skew gives even loads), bf16.
  const int hidden = config_.hidden, experts = config_.num_experts;
  weights_.assign(size_t(hidden) * experts, 0.0f);
  const uint64_t key = hash_key({seed, uint64_t(layer), stream_tag(RngStream::kRouterWeights)});
  for (size_t i = 0; i < weights_.size(); i += 2) {
    double z0, z1;
    normal_pair(hash_key({key, i}), z0, z1);
    weights_[i] = static_cast<float>(z0);
    if (i + 1 < weights_.size()) weights_[i + 1] = static_cast<float>(z1);
  }
  for (int e = 0; e < experts; ++e) {
    double norm2 = 0;
    for (int h = 0; h < hidden; ++h) norm2 += double(weights_[size_t(h) * experts + e]) *
                                              weights_[size_t(h) * experts + e];
    const double inv = norm2 > 0 ? 1.0 / std::sqrt(norm2) : 0.0;
    for (int h = 0; h < hidden; ++h) {
      float& w = weights_[size_t(h) * experts + e];
      w = kernels::round_to_bf16(static_cast<float>(w * inv));
    }
  }

  // Calibrate the bias against the step-0 target per expert (skipped when every share is the
  // same: bias 0 is the symmetric answer), then keep it by rank so drift can rotate it.
  rank_bias_.assign(experts, 0.0f);
  if (std::adjacent_find(rank_target_.begin(), rank_target_.end(), std::not_equal_to<>()) ==
      rank_target_.end())
    return;
  std::vector<double> target_by_expert(experts);
  for (int r = 0; r < experts; ++r) target_by_expert[expert_of_rank_[r]] = rank_target_[r];
  calibration_ = cached_calibration(
      config_.str() + " skew=" + skew_.str() + " seed=" + std::to_string(seed) +
          " layer=" + std::to_string(layer),
      config_, weights_, target_by_expert,
      hash_key({seed, uint64_t(layer), stream_tag(RngStream::kCalibrationSample)}));
  for (int r = 0; r < experts; ++r) rank_bias_[r] = calibration_->bias[expert_of_rank_[r]];
}

template <typename T>
std::vector<T> Router::drifted_by_expert(const std::vector<T>& values_by_rank, int step) const {
  // Rank r takes the value of level (r + shift) mod E, with shift = drift * step and linear
  // interpolation between neighbouring levels for the fractional part.
  const int experts = config_.num_experts;
  const double shift = drift_per_step_ * std::max(step, 0);
  const double whole = std::floor(shift);
  const double frac = shift - whole;
  const int64_t base = static_cast<int64_t>(std::fmod(whole, double(experts)));
  std::vector<T> out(experts);
  for (int r = 0; r < experts; ++r) {
    const double a = values_by_rank[(r + base) % experts];
    const double b = values_by_rank[(r + base + 1) % experts];
    out[expert_of_rank_[r]] = static_cast<T>((1.0 - frac) * a + frac * b);
  }
  return out;
}

std::vector<double> Router::target_shares(int step) const {
  return drifted_by_expert(rank_target_, step);
}

std::vector<float> Router::logit_bias(int step) const {
  const double shift = drift_per_step_ * std::max(step, 0);
  if (shift == std::floor(shift)) return drifted_by_expert(rank_bias_, step);
  // Between two levels the target share is the linear mix of theirs; mixing the biases would
  // give a different (about geometric) mix. So read each expert's bias off the calibrated
  // share -> bias curve instead: piecewise linear in log-share between the calibrated levels
  // (equal shares averaged).
  std::vector<std::pair<double, double>> curve;  // (log share, bias), ascending share
  std::vector<int> ranks_at_level;
  for (int r = int(rank_target_.size()) - 1; r >= 0; --r) {  // shares ascend as r descends
    const double x = std::log(std::max(rank_target_[r], 1e-300));
    if (!curve.empty() && curve.back().first == x) {  // running mean over equal shares
      const int n = ++ranks_at_level.back();
      curve.back().second += (rank_bias_[r] - curve.back().second) / n;
    } else {
      curve.emplace_back(x, rank_bias_[r]);
      ranks_at_level.push_back(1);
    }
  }
  const std::vector<double> target = target_shares(step);
  std::vector<float> bias(target.size());
  for (size_t e = 0; e < target.size(); ++e) {
    const double x = std::log(std::max(target[e], 1e-300));
    auto hi = std::lower_bound(curve.begin(), curve.end(), x,
                               [](const auto& point, double v) { return point.first < v; });
    if (hi == curve.end()) bias[e] = static_cast<float>(curve.back().second);
    else if (hi == curve.begin() || hi->first == x) bias[e] = static_cast<float>(hi->second);
    else {
      const auto lo = hi - 1;
      const double t = (x - lo->first) / (hi->first - lo->first);
      bias[e] = static_cast<float>(lo->second + t * (hi->second - lo->second));
    }
  }
  return bias;
}

double Router::flops_per_token() const {
  return 2.0 * double(config_.hidden) * double(config_.num_experts);
}

void Router::compute_logits(std::span<const float> hidden, int num_tokens, int step,
                            std::span<float> logits) const {
  const int h = config_.hidden, experts = config_.num_experts;
  if (num_tokens < 0 || hidden.size() != size_t(num_tokens) * h ||
      logits.size() != size_t(num_tokens) * experts)
    throw std::invalid_argument("Router::compute_logits (layer " + std::to_string(layer_) +
                                "): buffers do not match " + std::to_string(num_tokens) +
                                " tokens of " + config_.str());
  if (num_tokens == 0) return;
  const std::vector<float> bias = logit_bias(step);
  for (int t = 0; t < num_tokens; ++t)
    std::copy(bias.begin(), bias.end(), logits.begin() + size_t(t) * experts);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, num_tokens, experts, h, 1.0f,
              hidden.data(), h, weights_.data(), experts, 1.0f, logits.data(), experts);
}

void Router::route(std::span<const float> hidden, int num_tokens, int step,
                   std::span<int32_t> topk_ids, std::span<float> topk_weights) const {
  std::vector<float> logits(size_t(std::max(num_tokens, 0)) * config_.num_experts);
  compute_logits(hidden, num_tokens, step, logits);
  select_topk_from_logits(config_, logits, num_tokens, topk_ids, topk_weights);
}

void make_hidden_states(uint64_t seed, int layer, int step, int rank, int num_tokens, int hidden,
                        std::span<float> out) {
  if (num_tokens < 0 || hidden <= 0 || out.size() != size_t(num_tokens) * hidden)
    throw std::invalid_argument("make_hidden_states: output of " + std::to_string(out.size()) +
                                " floats does not match " + std::to_string(num_tokens) +
                                " tokens x hidden " + std::to_string(hidden));
  const uint64_t key = hash_key({seed, uint64_t(layer), uint64_t(step), uint64_t(rank),
                                 stream_tag(RngStream::kHiddenStates)});
  for (int t = 0; t < num_tokens; ++t) {
    float* row = out.data() + size_t(t) * hidden;
    const uint64_t token_key = hash_key({key, uint64_t(t)});
    for (int c = 0; c < hidden; c += 2) {
      double z0, z1;
      normal_pair(token_key + uint64_t(c), z0, z1);
      row[c] = kernels::round_to_bf16(static_cast<float>(z0));
      if (c + 1 < hidden) row[c + 1] = kernels::round_to_bf16(static_cast<float>(z1));
    }
  }
}

std::vector<int64_t> count_tokens_per_expert(std::span<const int32_t> topk_ids, int num_experts) {
  require_input(num_experts > 0, "count_tokens_per_expert: num_experts must be positive");
  std::vector<int64_t> counts(num_experts, 0);
  for (size_t i = 0; i < topk_ids.size(); ++i) {
    const int32_t e = topk_ids[i];
    require_input(e >= 0 && e < num_experts,
                  "count_tokens_per_expert: expert id " + std::to_string(e) + " at position " +
                      std::to_string(i) + " outside [0, " + std::to_string(num_experts) + ")");
    ++counts[e];
  }
  return counts;
}

}  // namespace epbench::gating
