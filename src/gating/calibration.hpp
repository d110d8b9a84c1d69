// Skew calibration: fits the router's per-expert logit bias so that the realized shares of
// (token, k) rows match the skew's target shares (gating/shares.hpp). The fit runs on a fixed
// sample of synthetic tokens from the router's own input distribution: with hidden states
// x ~ N(0, I_H) the logits x.Wr are exactly N(0, Wr^T Wr), so the sample draws z ~ N(0, I_E)
// and uses z.L^T with L L^T = Wr^T Wr (an E x E GEMM instead of an H x E one, and no H-wide
// hidden states). Then, at most 30 times:
//   realized = shares of the rows that group-limited top-k (topk.hpp) picks on logits + bias
//   bias_e  += (logit(k * target_e) - logit(k * realized_e)) / slope_e, re-centred to mean 0
// (a Newton step on each expert's pick probability, slope from the previous step), on a
// subsample that grows to the whole sample as the fit nears it; the best fit on the whole
// sample is kept. The whole fit is a deterministic function of (config, Wr, target, sample
// key). docs/gating.md gives the method and the measured realized-vs-target numbers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gating/router_config.hpp"

namespace epbench::gating {

// Biases are clamped to +-kMaxCalibratedBias: with unit-variance logits, +30 means "always
// picked" (a capped expert) and -30 "never".
inline constexpr double kMaxCalibratedBias = 30.0;

struct BiasCalibration {
  std::vector<float> bias;              // per expert, add to the logits
  std::vector<double> realized_shares;  // per expert, on the calibration sample with `bias`
  int sample_tokens = 0;
  int iterations = 0;  // bias updates made
};

// weights: Wr, [hidden][num_experts]; target_shares: per expert, sums to 1, each <= 1/top_k.
// Throws std::invalid_argument on mismatched sizes.
BiasCalibration calibrate_logit_bias(const RouterConfig& config, std::span<const float> weights,
                                     std::span<const double> target_shares, uint64_t sample_key);

// Tokens in the calibration sample for `num_experts` experts: about 2^20 logits in all
// (>= 8192 tokens), so the sample's own noise stays well under the tolerances.
int calibration_sample_tokens(int num_experts);

// Routes `num_tokens` rows of logits + bias with the config's top-k and counts rows per expert.
std::vector<int64_t> count_routed_rows(const RouterConfig& config, std::span<const float> logits,
                                       int num_tokens, std::span<const float> bias);

}  // namespace epbench::gating
