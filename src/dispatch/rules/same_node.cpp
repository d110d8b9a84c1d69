// Replica rule same-node: round-robin among the expert's replicas on the token's node when
// there are any (keeps traffic off the inter-node network), else among all replicas.
#include "dispatch/rules/rules.hpp"

namespace epbench {
namespace {

class SameNodeRule : public ReplicaRule {
 public:
  std::string name() const override { return "same-node"; }
  void assign(const ReplicaContext& ctx, std::span<const int32_t> topk_ids, int top_k,
              std::span<int32_t> slots) const override {
    const Placement& p = *ctx.placement;
    const int my_node = ctx.node_of_rank[ctx.my_rank];
    // Replicas on my node, per expert (CSR), once per call.
    local_start_.assign(1, 0);
    local_.clear();
    for (int e = 0; e < p.num_experts(); ++e) {
      for (int32_t slot : p.replicas(ctx.layer, e))
        if (ctx.node_of_rank[p.gpu_of_slot(slot)] == my_node) local_.push_back(slot);
      local_start_.push_back(static_cast<int32_t>(local_.size()));
    }
    for (size_t r = 0; r < topk_ids.size(); ++r) {
      const int32_t e = topk_ids[r];
      std::span<const int32_t> choices = p.replicas(ctx.layer, e);
      if (local_start_[e + 1] > local_start_[e])
        choices = std::span<const int32_t>(local_).subspan(local_start_[e],
                                                          local_start_[e + 1] - local_start_[e]);
      const uint64_t token = static_cast<uint64_t>(ctx.first_token_id + int64_t(r) / top_k);
      slots[r] = choices[token % choices.size()];
    }
  }

 private:
  mutable std::vector<int32_t> local_start_, local_;
};

}  // namespace

std::unique_ptr<ReplicaRule> make_same_node_rule() { return std::make_unique<SameNodeRule>(); }

}  // namespace epbench
