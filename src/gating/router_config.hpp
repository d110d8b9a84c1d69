// Router shape and scoring options (the gate of one MoE layer), validated on their own so the
// suite can reject a bad configuration before any rank starts communicating.
#pragma once

#include <string>

namespace epbench::gating {

enum class ScoreFunction { kSoftmax, kSigmoid };

// "softmax" | "sigmoid"; anything else throws InputError naming the value.
ScoreFunction parse_score_function(const std::string& name);
std::string score_function_name(ScoreFunction score);

struct RouterConfig {
  int hidden = 0;
  int num_experts = 0;
  int top_k = 0;
  int n_group = 1;     // expert groups (DeepSeek-V3: 8); experts e*G/E.. form group e / (E/G)
  int topk_group = 1;  // groups kept per token before the expert top-k (DeepSeek-V3: 4)
  ScoreFunction score = ScoreFunction::kSoftmax;
  bool normalize_topk = true;  // renormalize the k selected weights to sum 1

  int experts_per_group() const { return n_group > 0 ? num_experts / n_group : 0; }
  // Throws InputError (one line, naming the offending values) on an inconsistent shape.
  void validate() const;
  // "hidden=256 experts=32 top_k=2 groups=1/1 score=softmax norm=1", for messages and reports.
  std::string str() const;
};

}  // namespace epbench::gating
