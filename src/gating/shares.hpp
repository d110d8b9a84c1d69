// Per-expert shares of (token, k) rows: the cap-aware target of a skew (water-filling) and the
// two distances that say whether realized routing matches it. A share vector sums to 1; with
// top_k distinct experts per token, no expert can take more than 1/top_k of the rows.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace epbench::gating {

// Normalizes `weights` (all >= 0, some > 0) to shares and caps each at 1/top_k: experts over the
// cap are set to it and the excess is spread over the uncapped experts in proportion to their
// shares (evenly where those are all 0), repeated until none exceeds it. Throws
// std::invalid_argument unless 1 <= top_k <= weights.size() and the weights are valid.
std::vector<double> water_fill_shares(std::span<const double> weights, int top_k);

// counts / sum(counts); all zeros when the sum is 0.
std::vector<double> shares_from_counts(std::span<const int64_t> counts);

// 0.5 * sum |a - b| (the largest difference in probability the two assign to any set).
double total_variation_distance(std::span<const double> a, std::span<const double> b);

// The total-variation distance a perfect router is expected to show on `num_tokens` tokens by
// sampling alone: each expert is picked by a token with probability p = top_k * share,
// independently per token, so E|realized - target| = sqrt(2/pi) * sqrt(p (1 - p) / T) / top_k
// (normal approximation). The noise floor under a measured TV.
double expected_sampling_tv(std::span<const double> target, int top_k, int64_t num_tokens);

// realized / target - 1 on the expert that is hottest in `target` (lowest index on ties).
double hottest_relative_error(std::span<const double> target, std::span<const double> realized);

}  // namespace epbench::gating
