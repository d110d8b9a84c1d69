// Verification against a dense reference at the token's home rank: for each checked token,
// ref = sum_k w_k * SwiGLU_{e_k}(x) computed on the host in double from freshly generated expert
// weights, compared with the combined output by relative L2 error (bf16 tolerance).
#pragma once

#include <cstdint>
#include <span>

#include "expert_ffn.hpp"

namespace epbench {

struct VerifyCounts {
  int64_t checked = 0;
  int64_t wrong = 0;
  double max_rel_err = 0.0;
  void add(const VerifyCounts& o);
};

// Checks `sample` tokens (0 = all) chosen by a seeded stride over [0, T).
VerifyCounts verify_layer_output(uint64_t seed, int layer, kernels::FfnShape shape,
                                 std::span<const float> hidden, std::span<const int32_t> topk_ids,
                                 std::span<const float> topk_weights, int top_k,
                                 std::span<const float> combined, int sample, double rel_tol);

}  // namespace epbench
