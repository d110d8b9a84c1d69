// Scoring and group-limited top-k on precomputed router logits (no GEMM here), so the
// selection can be tested on hand-made logits and reused by the Router.
//   scores = softmax(logits) or sigmoid(logits)                  (per token, over all experts)
//   group score = max of the group's scores (softmax) or sum of its top-2 (sigmoid, DeepSeek-V3)
//   keep the topk_group best groups; pick the top_k experts among them by score
//   weights = the picked scores, divided by their sum when normalize_topk
// Ties break toward the lower group / expert index, so results are deterministic.
#pragma once

#include <cstdint>
#include <span>

#include "gating/router_config.hpp"

namespace epbench::gating {

// logits: [num_tokens][num_experts]. Writes topk_ids / topk_weights: [num_tokens][top_k],
// experts ordered by descending score. The config must be valid (call validate() first).
void select_topk_from_logits(const RouterConfig& config, std::span<const float> logits,
                             int num_tokens, std::span<int32_t> topk_ids,
                             std::span<float> topk_weights);

}  // namespace epbench::gating
