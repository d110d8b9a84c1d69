// The MoE router of one layer with controllable skew:
//   logits = x . Wr + bias(step),  Wr: [hidden][experts] from (seed, layer), unit-norm columns
// then scores and group-limited top-k as in topk.hpp. The skew names the target share of
// (token, k) rows per popularity rank (SkewSpec::rank_target_shares, capped at 1/top_k); a
// seeded permutation maps ranks to experts. The bias is calibrated at construction so realized
// shares match the target (gating/calibration.hpp; cached per (shape, skew, seed, layer)).
// Drift rotates ranks over steps; the calibrated bias of each rank rotates with its share
// (between whole ranks it is read off the calibrated share -> bias curve).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "gating/calibration.hpp"
#include "gating/router_config.hpp"
#include "gating/skew.hpp"

namespace epbench::gating {

class Router {
 public:
  // Throws InputError on an invalid config, a skew that does not fit it, a drift outside
  // [0, num_experts] (experts per step; E is a full rotation), or a negative layer.
  Router(RouterConfig config, SkewSpec skew, double drift_per_step, uint64_t seed, int layer);

  // hidden: [num_tokens][hidden]. Writes topk_ids / topk_weights: [num_tokens][top_k], distinct
  // experts per token ordered by descending score. Deterministic; uses cblas_sgemm for logits.
  void route(std::span<const float> hidden, int num_tokens, int step,
             std::span<int32_t> topk_ids, std::span<float> topk_weights) const;

  // Writes the logits (x . Wr + bias) for [num_tokens][experts]; route() = this + top-k.
  void compute_logits(std::span<const float> hidden, int num_tokens, int step,
                      std::span<float> logits) const;

  // Target share of (token, k) rows per expert at `step` (drift applied), sums to 1, each
  // <= 1/top_k. Realized shares match it within TV 0.05 and 10 % on the hottest expert
  // (sampling noise aside; sigmoid group limits can fall short where the cap binds, see
  // docs/gating.md). What results record as the target and what simulators sample from.
  std::vector<double> target_shares(int step) const;
  // Alias of target_shares (the name older callers use).
  std::vector<double> popularity(int step) const { return target_shares(step); }
  std::vector<float> logit_bias(int step) const;  // per expert, the calibrated bias at `step`
  double flops_per_token() const;                  // 2 * hidden * experts (the logits GEMM)

  const RouterConfig& config() const { return config_; }
  const SkewSpec& skew() const { return skew_; }
  double drift_per_step() const { return drift_per_step_; }
  const std::vector<float>& weights() const { return weights_; }  // Wr, [hidden][experts]
  // expert_of_rank()[r] is the expert with popularity rank r at step 0.
  const std::vector<int>& expert_of_rank() const { return expert_of_rank_; }
  // Target shares and calibrated biases by popularity rank (step 0).
  const std::vector<double>& rank_target_shares() const { return rank_target_; }
  const std::vector<float>& rank_bias() const { return rank_bias_; }
  // The calibration behind rank_bias (null for an all-equal target such as uniform, bias 0):
  // its realized_shares are per expert at step 0 on the calibration sample.
  const BiasCalibration* calibration() const { return calibration_.get(); }

 private:
  RouterConfig config_;
  SkewSpec skew_;
  double drift_per_step_;
  uint64_t seed_;
  int layer_;
  std::vector<double> rank_target_;
  std::vector<int> expert_of_rank_;
  std::vector<float> weights_;
  std::shared_ptr<const BiasCalibration> calibration_;
  std::vector<float> rank_bias_;
  // Drift at `step`: rank r takes level (r + base) mod E weighted 1 - frac and the next level
  // weighted frac; values_by_rank interpolated that way, written per expert.
  template <typename T>
  std::vector<T> drifted_by_expert(const std::vector<T>& values_by_rank, int step) const;
};

// Deterministic token hidden states: N(0, 1) rounded to bf16, a pure function of
// (seed, layer, step, rank, token, channel), so every rank can regenerate any rank's inputs.
// out: [num_tokens][hidden].
void make_hidden_states(uint64_t seed, int layer, int step, int rank, int num_tokens, int hidden,
                        std::span<float> out);

// Tokens routed to each expert (one count per (token, k) slot). Throws InputError on an id
// outside [0, num_experts), naming its position.
std::vector<int64_t> count_tokens_per_expert(std::span<const int32_t> topk_ids, int num_experts);

}  // namespace epbench::gating
