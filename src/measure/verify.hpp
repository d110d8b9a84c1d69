// Verification of every measured layer step against a dense reference at the token's home rank.
// Per (rank, layer, step) a sample of tokens is chosen by a hash of (seed, rank, layer, step)
// (all tokens with sample 0), so over the steps every token id, hence every replica of a
// round-robin rule, is exercised. For each checked token:
//   ref = sum_k w_k * SwiGLU_{e_k}(x)  on the host in double from freshly generated expert
//         weights (kept in a bounded cache), x rounded to bf16 as the path sends it;
//   wrong when ||out - ref||_2 exceeds the per-token rounding bound of the path
//         (rounding_bound.hpp: tight where the arithmetic is, robust where ref nearly cancels),
//   or, with a router, when its top-k does not match an independent re-derivation
//         (topk_check.hpp). Under trace replay (no router) the top-k is not re-derived.
// Runs outside the step timers; the caller adds the counts of every step.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "expert_ffn.hpp"
#include "gating/router.hpp"
#include "measure/rounding_bound.hpp"

namespace epbench {

struct VerifyCounts {
  int64_t checked = 0;          // tokens
  int64_t wrong = 0;            // tokens with a wrong output or a mismatching top-k
  int64_t output_wrong = 0;     // tokens whose output exceeds its bound
  int64_t topk_checked = 0;     // tokens whose top-k was re-derived
  int64_t topk_mismatches = 0;
  double max_rel_err = 0.0;     // max over tokens of ||out - ref|| / scale
  double max_rel_bound = 0.0;   // max over tokens of bound / scale (the tolerance applied)
  double sum_err2 = 0.0, sum_expected2 = 0.0, sum_scale2 = 0.0;  // for RMS relative errors
  std::string rounding;         // RoundingModel::describe() of the checked path
  void add(const VerifyCounts& o);
};

struct VerifyOptions {
  uint64_t seed = 1;
  kernels::FfnShape shape;
  int top_k = 1;
  int sample = 0;  // tokens per rank, layer and step; 0 = all
  RoundingModel rounding;
  size_t weight_cache_bytes = size_t(256) << 20;  // regenerated expert weights (double) kept
};

class LayerVerifier {
 public:
  explicit LayerVerifier(VerifyOptions options);

  // Checks this rank's output of (layer, step). hidden: [T][H]; topk_*: [T][k]; combined: [T][H].
  // router: the layer's router to re-derive the top-k, or nullptr (trace replay).
  VerifyCounts check(int rank, int layer, int step, std::span<const float> hidden,
                     std::span<const int32_t> topk_ids, std::span<const float> topk_weights,
                     std::span<const float> combined, const gating::Router* router);

  // The sorted token indices checked for (rank, layer, step) out of num_tokens.
  static std::vector<int64_t> sample_tokens(uint64_t seed, int rank, int layer, int step,
                                            int64_t num_tokens, int sample);

  const VerifyOptions& options() const { return options_; }

 private:
  struct Expert {
    std::vector<double> weights;  // in double; empty when not cached
    ExpertNorms norms;
  };
  // Weights (regenerated, or from the cache) and norms of (layer, expert).
  // scratch receives the weights when they are not cached.
  const Expert& expert(int layer, int expert, std::vector<double>& scratch);

  VerifyOptions options_;
  std::map<std::pair<int, int>, Expert> experts_;  // norms always; weights while within budget
  size_t cached_bytes_ = 0;
};

// Collective: the "verify" fields of a run summary from every rank's counts (complete on rank 0):
// checked_tokens, wrong, output_wrong, topk_rederived, topk_mismatches, max_rel_err,
// expected_rel_err, rel_err_rms, max_rel_tolerance, max_rel_err_over_expected, rounding.
nlohmann::json verify_summary_json(const VerifyCounts& mine);

}  // namespace epbench
