// The MoE router of one layer with controllable skew:
//   logits = x . Wr + bias(step),  Wr: [hidden][experts] from (seed, layer), unit-norm columns
//   bias(step)[e] = kSkewLogitStrength * ln(E * popularity(step)[e])   (0 for uniform)
// then scores and group-limited top-k as in topk.hpp. Popularity comes from a SkewSpec by rank;
// a seeded permutation maps ranks to experts, and drift rotates ranks over steps (docs/gating.md).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gating/router_config.hpp"
#include "gating/skew.hpp"

namespace epbench::gating {

// Logit bias per unit of log-popularity. The unskewed logits are N(0, 1); 0.6 was calibrated so
// realized top-2 loads on 32 experts track the popularity within about -30%/+25% per expert for
// zipf:0.8..1.2 (zipf:1.2: hottest expert ~8x the mean load, popularity says ~10x). Larger
// values over-concentrate (cold experts starve), smaller ones flatten the skew.
inline constexpr double kSkewLogitStrength = 0.6;

class Router {
 public:
  // Throws InputError on an invalid config, a skew that does not fit it, a negative or
  // non-finite drift, or a negative layer.
  Router(RouterConfig config, SkewSpec skew, double drift_per_step, uint64_t seed, int layer);

  // hidden: [num_tokens][hidden]. Writes topk_ids / topk_weights: [num_tokens][top_k], distinct
  // experts per token ordered by descending score. Deterministic; uses cblas_sgemm for logits.
  void route(std::span<const float> hidden, int num_tokens, int step,
             std::span<int32_t> topk_ids, std::span<float> topk_weights) const;

  // Writes the logits (x . Wr + bias) for [num_tokens][experts]; route() = this + top-k.
  void compute_logits(std::span<const float> hidden, int num_tokens, int step,
                      std::span<float> logits) const;

  std::vector<double> popularity(int step) const;  // per expert, sums to 1
  std::vector<float> logit_bias(int step) const;   // per expert
  double flops_per_token() const;                  // 2 * hidden * experts (the logits GEMM)

  const RouterConfig& config() const { return config_; }
  const SkewSpec& skew() const { return skew_; }
  double drift_per_step() const { return drift_per_step_; }
  const std::vector<float>& weights() const { return weights_; }  // Wr, [hidden][experts]
  // expert_of_rank()[r] is the expert with popularity rank r at step 0.
  const std::vector<int>& expert_of_rank() const { return expert_of_rank_; }

 private:
  RouterConfig config_;
  SkewSpec skew_;
  double drift_per_step_;
  uint64_t seed_;
  int layer_;
  std::vector<double> rank_popularity_;
  std::vector<int> expert_of_rank_;
  std::vector<float> weights_;
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
