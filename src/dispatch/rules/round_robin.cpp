// Replica rule round-robin: replica = global token id mod replica count, so consecutive tokens
// spread over all replicas of an expert wherever they are.
#include "dispatch/rules/rules.hpp"

namespace epbench {
namespace {

class RoundRobinRule : public ReplicaRule {
 public:
  std::string name() const override { return "round-robin"; }
  void assign(const ReplicaContext& ctx, std::span<const int32_t> topk_ids, int top_k,
              std::span<int32_t> slots) const override {
    for (size_t r = 0; r < topk_ids.size(); ++r) {
      auto choices = ctx.placement->replicas(ctx.layer, topk_ids[r]);
      const uint64_t token = static_cast<uint64_t>(ctx.first_token_id + int64_t(r) / top_k);
      slots[r] = choices[token % choices.size()];
    }
  }
};

}  // namespace

std::unique_ptr<ReplicaRule> make_round_robin_rule() { return std::make_unique<RoundRobinRule>(); }

}  // namespace epbench
