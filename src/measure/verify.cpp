// Dense-reference verification; see verify.hpp. Sampled tokens are processed in chunks; within a
// chunk they are grouped by expert so each expert's reference is one batched dgemm.
#include "measure/verify.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "comm/mpi_comm.hpp"
#include "gating/hash_rng.hpp"
#include "measure/topk_check.hpp"
#include "reference.hpp"

namespace epbench {
namespace {

constexpr uint64_t kVerifySampleTag = 0x7665726966790001ull;  // "verify", sample stream
constexpr size_t kChunkBytes = size_t(64) << 20;               // per-token bound state per chunk

}  // namespace

void VerifyCounts::add(const VerifyCounts& o) {
  checked += o.checked;
  wrong += o.wrong;
  output_wrong += o.output_wrong;
  topk_checked += o.topk_checked;
  topk_mismatches += o.topk_mismatches;
  max_rel_err = std::max(max_rel_err, o.max_rel_err);
  max_rel_bound = std::max(max_rel_bound, o.max_rel_bound);
  sum_err2 += o.sum_err2;
  sum_expected2 += o.sum_expected2;
  sum_scale2 += o.sum_scale2;
  if (rounding.empty()) rounding = o.rounding;
}

LayerVerifier::LayerVerifier(VerifyOptions options) : options_(std::move(options)) {}

std::vector<int64_t> LayerVerifier::sample_tokens(uint64_t seed, int rank, int layer, int step,
                                                  int64_t num_tokens, int sample) {
  std::vector<int64_t> tokens;
  if (sample <= 0 || sample >= num_tokens) {
    for (int64_t t = 0; t < num_tokens; ++t) tokens.push_back(t);
    return tokens;
  }
  // A uniformly random subset: the `sample` smallest hash keys of the token ids.
  const uint64_t key = gating::hash_key(
      {seed, kVerifySampleTag, uint64_t(rank), uint64_t(layer), uint64_t(step)});
  std::vector<std::pair<uint64_t, int64_t>> keyed(num_tokens);
  for (int64_t t = 0; t < num_tokens; ++t)
    keyed[t] = {gating::hash_key({key, uint64_t(t)}), t};
  std::nth_element(keyed.begin(), keyed.begin() + sample, keyed.end());
  for (int i = 0; i < sample; ++i) tokens.push_back(keyed[i].second);
  std::sort(tokens.begin(), tokens.end());
  return tokens;
}

const LayerVerifier::Expert& LayerVerifier::expert(int layer, int e,
                                                   std::vector<double>& scratch) {
  const kernels::FfnShape shape = options_.shape;
  auto it = experts_.find({layer, e});
  if (it != experts_.end() && !it->second.weights.empty()) return it->second;
  std::vector<kernels::bf16_t> bf16(shape.weight_elems());
  kernels::make_expert_weights(options_.seed, layer, e, shape, bf16.data());
  scratch.resize(bf16.size());
  for (size_t i = 0; i < bf16.size(); ++i) scratch[i] = kernels::bf16_to_float(bf16[i]);
  if (it == experts_.end()) {
    Expert fresh;
    fresh.norms = ExpertNorms::of(bf16.data(), shape);
    it = experts_.emplace(std::make_pair(layer, e), std::move(fresh)).first;
    const size_t bytes = scratch.size() * sizeof(double);
    if (cached_bytes_ + bytes <= options_.weight_cache_bytes) {
      it->second.weights = std::move(scratch);  // the caller reads the cached copy
      scratch.clear();
      cached_bytes_ += bytes;
    }
  }
  return it->second;
}

VerifyCounts LayerVerifier::check(int rank, int layer, int step, std::span<const float> hidden,
                                  std::span<const int32_t> topk_ids,
                                  std::span<const float> topk_weights,
                                  std::span<const float> combined,
                                  const gating::Router* router) {
  const kernels::FfnShape shape = options_.shape;
  const int H = shape.hidden, F = shape.ffn, K = options_.top_k;
  const int64_t T = static_cast<int64_t>(hidden.size()) / H;
  const std::vector<int64_t> tokens =
      sample_tokens(options_.seed, rank, layer, step, T, options_.sample);
  const size_t per_token_bytes = 4 * sizeof(double) * size_t(H) + sizeof(float) * H;
  const size_t chunk = std::max<size_t>(1, kChunkBytes / per_token_bytes);

  VerifyCounts c;
  c.rounding = options_.rounding.describe();
  std::optional<TopkRederiver> topk;
  if (router != nullptr) topk.emplace(*router, step);
  std::vector<double> scratch;
  std::vector<float> x, xe;
  std::vector<double> g, h, y;
  std::vector<TokenErrorBound> bounds;
  for (size_t first = 0; first < tokens.size(); first += chunk) {
    const size_t n = std::min(chunk, tokens.size() - first);
    // The tokens as the path sends them: bf16.
    x.resize(n * H);
    for (size_t i = 0; i < n; ++i)
      for (int j = 0; j < H; ++j)
        x[i * H + j] = kernels::round_to_bf16(hidden[tokens[first + i] * H + j]);
    std::map<int32_t, std::vector<std::pair<size_t, int>>> by_expert;  // expert -> (i, k)
    for (size_t i = 0; i < n; ++i)
      for (int k = 0; k < K; ++k) {
        const int32_t e = topk_ids[tokens[first + i] * K + k];
        if (e >= 0) by_expert[e].push_back({i, k});  // negative ids fail the top-k check
      }
    if (bounds.size() < n) bounds.resize(n, TokenErrorBound(options_.rounding, shape));
    for (size_t i = 0; i < n; ++i) bounds[i].reset();
    for (const auto& [e, uses] : by_expert) {
      const Expert& ex = expert(layer, e, scratch);
      const double* w = ex.weights.empty() ? scratch.data() : ex.weights.data();
      const size_t m = uses.size();
      xe.resize(m * H);
      for (size_t j = 0; j < m; ++j)
        std::copy_n(x.data() + uses[j].first * H, H, xe.data() + j * H);
      g.resize(m * 2 * F);
      h.resize(m * F);
      y.resize(m * H);
      kernels::swiglu_reference_terms(w, shape, xe.data(), static_cast<int>(m), g.data(),
                                      h.data(), y.data());
      for (size_t j = 0; j < m; ++j) {
        const auto [i, k] = uses[j];
        const double weight = topk_weights[tokens[first + i] * K + k];
        bounds[i].add_expert(weight, xe.data() + j * H, g.data() + j * 2 * F, h.data() + j * F,
                             y.data() + j * H, ex.norms);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = tokens[first + i];
      const TokenCheck tc = bounds[i].finish(combined.data() + t * H);
      bool wrong = tc.wrong;
      c.output_wrong += tc.wrong;
      if (tc.scale > 0 && std::isfinite(tc.err)) {
        c.max_rel_err = std::max(c.max_rel_err, tc.err / tc.scale);
        c.max_rel_bound = std::max(c.max_rel_bound, tc.bound / tc.scale);
        c.sum_err2 += tc.err * tc.err;
        c.sum_expected2 += tc.expected * tc.expected;
        c.sum_scale2 += tc.scale * tc.scale;
      }
      if (topk) {
        ++c.topk_checked;
        if (!topk->matches(hidden.data() + t * H, topk_ids.data() + t * K,
                           topk_weights.data() + t * K)) {
          ++c.topk_mismatches;
          wrong = true;
        }
      }
      c.wrong += wrong;
      ++c.checked;
    }
  }
  return c;
}

nlohmann::json verify_summary_json(const VerifyCounts& mine) {
  int64_t counts[5] = {mine.checked, mine.wrong, mine.output_wrong, mine.topk_checked,
                       mine.topk_mismatches};
  double sums[3] = {mine.sum_err2, mine.sum_expected2, mine.sum_scale2};
  double maxima[2] = {mine.max_rel_err, mine.max_rel_bound};
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, counts, 5, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
  CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, maxima, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  const double expected = sums[2] > 0 ? std::sqrt(sums[1] / sums[2]) : 0.0;
  return {{"checked_tokens", counts[0]},
          {"wrong", counts[1]},
          {"output_wrong", counts[2]},
          {"topk_rederived", counts[0] > 0 && counts[3] == counts[0]},
          {"topk_mismatches", counts[4]},
          {"max_rel_err", maxima[0]},
          {"expected_rel_err", expected},
          {"rel_err_rms", sums[2] > 0 ? std::sqrt(sums[0] / sums[2]) : 0.0},
          {"max_rel_tolerance", maxima[1]},
          {"max_rel_err_over_expected", maxima[0] > 2.0 * expected},
          {"rounding", mine.rounding}};
}

}  // namespace epbench
