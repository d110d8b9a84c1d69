// Logit-bias calibration against target shares; see calibration.hpp.
#include "gating/calibration.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "gating/hash_rng.hpp"
#include "gating/shares.hpp"
#include "gating/topk.hpp"

namespace epbench::gating {
namespace {

constexpr int kMaxIterations = 30;
// d logit(p) / d bias: about 2 for commonly picked experts under N(0, 1) logits (measured);
// the secant estimates replace it after the first step, within [kMinSlope, kMaxSlope].
constexpr double kInitialSlope = 2.0, kMinSlope = 0.5, kMaxSlope = 10.0;
// Stop once the sample realizes the target this closely (well inside the 0.05 TV and 10 %
// hottest-expert tolerances, leaving room for the noise of other token samples).
constexpr double kStopTotalVariation = 0.004;
constexpr double kStopHottestError = 0.005;
constexpr int kMaxStalled = 3;
constexpr double kMinImprovement = 0.05;

// Lower-triangular L (row-major, E x E) with L L^T = cov, for a symmetric positive
// semi-definite cov: pivots at or below the rounding level are treated as 0 (their column of L
// is 0), so a rank-deficient Wr^T Wr (hidden < experts) still factors.
std::vector<float> cholesky_lower(const std::vector<double>& cov, int n) {
  std::vector<double> l(size_t(n) * n, 0.0);
  for (int j = 0; j < n; ++j) {
    double d = cov[size_t(j) * n + j];
    for (int p = 0; p < j; ++p) d -= l[size_t(j) * n + p] * l[size_t(j) * n + p];
    if (d <= 1e-9 * std::max(1.0, cov[size_t(j) * n + j])) continue;
    const double ljj = std::sqrt(d);
    l[size_t(j) * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = cov[size_t(i) * n + j];
      for (int p = 0; p < j; ++p) s -= l[size_t(i) * n + p] * l[size_t(j) * n + p];
      l[size_t(i) * n + j] = s / ljj;
    }
  }
  return {l.begin(), l.end()};
}

// Logits of `tokens` synthetic tokens: rows of z.L^T, z ~ N(0, I_E) from `key`.
std::vector<float> sample_logits(std::span<const float> weights, int hidden, int experts,
                                 int tokens, uint64_t key) {
  std::vector<float> gram(size_t(experts) * experts);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, experts, experts, hidden, 1.0f,
              weights.data(), experts, weights.data(), experts, 0.0f, gram.data(), experts);
  const std::vector<float> lower =
      cholesky_lower(std::vector<double>(gram.begin(), gram.end()), experts);
  std::vector<float> z(size_t(tokens) * experts);
  for (size_t i = 0; i < z.size(); i += 2) {
    double z0, z1;
    normal_pair(hash_key({key, i}), z0, z1);
    z[i] = static_cast<float>(z0);
    if (i + 1 < z.size()) z[i + 1] = static_cast<float>(z1);
  }
  std::vector<float> logits(z.size());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, tokens, experts, experts, 1.0f, z.data(),
              experts, lower.data(), experts, 0.0f, logits.data(), experts);
  return logits;
}

}  // namespace

int calibration_sample_tokens(int num_experts) {
  return std::max(8192, (1 << 20) / std::max(num_experts, 1));
}

std::vector<int64_t> count_routed_rows(const RouterConfig& config, std::span<const float> logits,
                                       int num_tokens, std::span<const float> bias) {
  const int experts = config.num_experts, k = config.top_k;
  constexpr int kChunk = 512;
  std::vector<float> chunk(size_t(kChunk) * experts), weights(size_t(kChunk) * k);
  std::vector<int32_t> ids(size_t(kChunk) * k);
  std::vector<int64_t> counts(experts, 0);
  for (int t0 = 0; t0 < num_tokens; t0 += kChunk) {
    const int n = std::min(kChunk, num_tokens - t0);
    for (int t = 0; t < n; ++t) {
      const float* src = logits.data() + size_t(t0 + t) * experts;
      float* dst = chunk.data() + size_t(t) * experts;
      for (int e = 0; e < experts; ++e) dst[e] = src[e] + bias[e];
    }
    const size_t rows = size_t(n) * k;
    select_topk_from_logits(config, std::span(chunk).first(size_t(n) * experts), n,
                            std::span(ids).first(rows), std::span(weights).first(rows));
    for (size_t i = 0; i < rows; ++i) ++counts[ids[i]];
  }
  return counts;
}

BiasCalibration calibrate_logit_bias(const RouterConfig& config, std::span<const float> weights,
                                     std::span<const double> target_shares, uint64_t sample_key) {
  const int experts = config.num_experts, hidden = config.hidden;
  if (weights.size() != size_t(hidden) * experts || target_shares.size() != size_t(experts))
    throw std::invalid_argument("calibrate_logit_bias: weights or target shares do not match " +
                                config.str());
  BiasCalibration out;
  out.sample_tokens = calibration_sample_tokens(experts);
  const std::vector<float> logits =
      sample_logits(weights, hidden, experts, out.sample_tokens, sample_key);
  // Far from the fit, a fraction of the sample says where to go as well as all of it: the fit
  // starts on the first tokens_used = sample / 8 tokens and doubles them whenever it is within
  // twice that subsample's own noise (expected TV of a perfect router), ending on the whole.
  int tokens_used = std::max(1, out.sample_tokens / 8);
  auto sampling_noise = [&](int tokens) {
    return expected_sampling_tv(target_shares, config.top_k, tokens);
  };
  const double full_sample_noise = sampling_noise(out.sample_tokens);
  int stalled = 0;
  // The update works on each expert's pick probability p = top_k * share (the fraction of
  // tokens that pick it): bias moves by (logit(p_target) - logit(p_realized)) / slope. For rarely
  // picked experts that is log(target / realized); near the cap (p -> 1) it keeps taking full steps
  // where the plain log ratio would crawl. Probabilities are kept half a token away from 0
  // and 1 so the logits stay finite; the bias clamp bounds what that can do.
  const double half_token = 0.5 / out.sample_tokens;
  auto pick_logit = [&](double share) {
    const double p = std::clamp(share * config.top_k, half_token, 1.0 - half_token);
    return std::log(p / (1.0 - p));
  };
  std::vector<double> bias(experts, 0.0), previous_bias(experts, 0.0), previous_logit(experts, 0.0);
  out.bias.assign(experts, 0.0f);
  BiasCalibration best;
  double best_distance = INFINITY, best_at_size = INFINITY, previous_distance = INFINITY;
  double damping = 1.0;
  for (int iteration = 0;; ++iteration) {
    out.realized_shares =
        shares_from_counts(count_routed_rows(config, logits, tokens_used, out.bias));
    out.iterations = iteration;
    const double distance = total_variation_distance(target_shares, out.realized_shares);
    const double hottest_error = hottest_relative_error(target_shares, out.realized_shares);
    // A step "counts" when it improves on the best distance at this sample size by
    // kMinImprovement; kMaxStalled steps that do not mean the fit has gone as far as it can
    // at this size (or at all: a target the routing cannot reach, e.g. a capped expert under
    // sigmoid group limits, docs/gating.md).
    if (distance < best_at_size * (1 - kMinImprovement)) stalled = 0;
    else ++stalled;
    best_at_size = std::min(best_at_size, distance);
    if (tokens_used < out.sample_tokens) {
      if (distance < 2 * sampling_noise(tokens_used) || stalled >= kMaxStalled) {
        tokens_used = std::min(out.sample_tokens, 2 * tokens_used);
        previous_distance = best_at_size = INFINITY;  // not comparable across sizes
        stalled = 0;
      }
    } else {
      if (distance < best_distance) best_distance = distance, best = out;
      // Done within the tolerance or the sample's own noise (going further would fit the
      // noise), or when stalled.
      if ((distance <= std::max(kStopTotalVariation, 0.5 * full_sample_noise) &&
           std::fabs(hottest_error) <= kStopHottestError) ||
          stalled >= kMaxStalled)
        break;
    }
    if (iteration == kMaxIterations) break;
    // A step that made things worse means the slopes below misjudged the coupling between
    // experts: take smaller steps from here on (the best bias seen is what is returned).
    if (distance > previous_distance) damping *= 0.5;
    previous_distance = distance;
    // Newton step per expert on logit(p) with the slope d logit(p) / d bias measured by the
    // last step (secant), kInitialSlope before there is one. Gaussian tails make the slope
    // grow for rarely picked experts (about 2 for common ones, ~5 far in the tail), so a
    // fixed step either crawls or oscillates.
    double mean = 0;
    for (int e = 0; e < experts; ++e) {
      const double realized_logit = pick_logit(out.realized_shares[e]);
      double slope = kInitialSlope;
      if (iteration > 0 && std::fabs(bias[e] - previous_bias[e]) > 1e-6)
        slope = std::clamp((realized_logit - previous_logit[e]) / (bias[e] - previous_bias[e]),
                           kMinSlope, kMaxSlope);
      previous_bias[e] = bias[e];
      previous_logit[e] = realized_logit;
      bias[e] += damping * (pick_logit(target_shares[e]) - realized_logit) / slope;
      mean += bias[e] / experts;
    }
    for (int e = 0; e < experts; ++e) {
      bias[e] = std::clamp(bias[e] - mean, -kMaxCalibratedBias, kMaxCalibratedBias);
      out.bias[e] = static_cast<float>(bias[e]);
    }
  }
  if (best.bias.empty()) {  // the iterations ran out before reaching the whole sample
    out.realized_shares =
        shares_from_counts(count_routed_rows(config, logits, out.sample_tokens, out.bias));
    best = out;
  }
  best.iterations = out.iterations;
  return best;
}

}  // namespace epbench::gating
