// RouterConfig validation and score-function names; see router_config.hpp.
#include "gating/router_config.hpp"

#include "common/error.hpp"

namespace epbench::gating {

ScoreFunction parse_score_function(const std::string& name) {
  if (name == "softmax") return ScoreFunction::kSoftmax;
  if (name == "sigmoid") return ScoreFunction::kSigmoid;
  throw InputError("unknown router score function \"" + name + "\" (known: softmax, sigmoid)");
}

std::string score_function_name(ScoreFunction score) {
  return score == ScoreFunction::kSigmoid ? "sigmoid" : "softmax";
}

std::string RouterConfig::str() const {
  return "hidden=" + std::to_string(hidden) + " experts=" + std::to_string(num_experts) +
         " top_k=" + std::to_string(top_k) + " groups=" + std::to_string(topk_group) + "/" +
         std::to_string(n_group) + " score=" + score_function_name(score) +
         " norm=" + std::to_string(normalize_topk ? 1 : 0);
}

void RouterConfig::validate() const {
  const std::string where = "router config (" + str() + "): ";
  require_input(hidden > 0, where + "hidden must be positive");
  require_input(num_experts > 0, where + "num_experts must be positive");
  require_input(top_k > 0, where + "top_k must be positive");
  require_input(n_group > 0, where + "n_group must be positive");
  require_input(topk_group > 0, where + "topk_group must be positive");
  require_input(top_k <= num_experts, where + "top_k " + std::to_string(top_k) +
                                          " exceeds num_experts " + std::to_string(num_experts));
  require_input(topk_group <= n_group, where + "topk_group " + std::to_string(topk_group) +
                                           " exceeds n_group " + std::to_string(n_group));
  require_input(num_experts % n_group == 0, where + "num_experts " + std::to_string(num_experts) +
                                                " is not divisible by n_group " +
                                                std::to_string(n_group));
  const int selectable = topk_group * experts_per_group();
  require_input(top_k <= selectable,
                where + "top_k " + std::to_string(top_k) + " exceeds the " +
                    std::to_string(selectable) + " experts in the kept groups (topk_group " +
                    std::to_string(topk_group) + " x " + std::to_string(experts_per_group()) +
                    " experts per group)");
}

}  // namespace epbench::gating
