// Dense-reference verification; see verify.hpp. Tokens are grouped by expert so each expert's
// weights are generated once per call.
#include "measure/verify.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "reference.hpp"

namespace epbench {

void VerifyCounts::add(const VerifyCounts& o) {
  checked += o.checked;
  wrong += o.wrong;
  max_rel_err = std::max(max_rel_err, o.max_rel_err);
}

VerifyCounts verify_layer_output(uint64_t seed, int layer, kernels::FfnShape shape,
                                 std::span<const float> hidden, std::span<const int32_t> topk_ids,
                                 std::span<const float> topk_weights, int top_k,
                                 std::span<const float> combined, int sample, double rel_tol) {
  const int H = shape.hidden;
  const int64_t T = static_cast<int64_t>(hidden.size()) / H;
  std::vector<int64_t> tokens;
  if (sample <= 0 || sample >= T) {
    for (int64_t t = 0; t < T; ++t) tokens.push_back(t);
  } else {
    const int64_t stride = T / sample;
    const int64_t offset = static_cast<int64_t>(seed % static_cast<uint64_t>(stride));
    for (int64_t i = 0; i < sample; ++i) tokens.push_back(offset + i * stride);
  }
  // (expert -> list of (token index in `tokens`, k)).
  std::map<int32_t, std::vector<std::pair<size_t, int>>> by_expert;
  for (size_t i = 0; i < tokens.size(); ++i)
    for (int k = 0; k < top_k; ++k) by_expert[topk_ids[tokens[i] * top_k + k]].push_back({i, k});

  std::vector<double> ref(tokens.size() * H, 0.0);
  std::vector<kernels::bf16_t> weights(shape.weight_elems());
  std::vector<float> y(H);
  for (const auto& [expert, uses] : by_expert) {
    kernels::make_expert_weights(seed, layer, expert, shape, weights.data());
    for (const auto& [i, k] : uses) {
      const int64_t t = tokens[i];
      kernels::swiglu_reference(weights.data(), shape, hidden.data() + t * H, 1, y.data());
      const double w = topk_weights[t * top_k + k];
      for (int h = 0; h < H; ++h) ref[i * H + h] += w * y[h];
    }
  }
  VerifyCounts c;
  for (size_t i = 0; i < tokens.size(); ++i) {
    double diff = 0.0, norm = 0.0;
    const float* out = combined.data() + tokens[i] * H;
    for (int h = 0; h < H; ++h) {
      const double r = ref[i * H + h];
      diff += (out[h] - r) * (out[h] - r);
      norm += r * r;
    }
    const double err = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
    c.max_rel_err = std::max(c.max_rel_err, err);
    if (!(err <= rel_tol)) ++c.wrong;  // NaN counts as wrong
    ++c.checked;
  }
  return c;
}

}  // namespace epbench
