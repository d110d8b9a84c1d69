// Shared part of the batch replica rules; see rules.hpp.
#include <stdexcept>

#include "dispatch/rules/rules.hpp"

namespace epbench {

std::span<const int64_t> BatchReplicaRule::expert_rows(const ReplicaContext& ctx) {
  const int E = ctx.placement->num_experts();
  const size_t R = ctx.node_of_rank.size();
  if (ctx.rank_expert_rows.size() != R * E)
    throw std::logic_error(name() + ": batch counts are not [ranks][experts]");
  expert_rows_.assign(E, 0);
  for (size_t r = 0; r < R; ++r)
    for (int e = 0; e < E; ++e) expert_rows_[e] += ctx.rank_expert_rows[r * E + e];
  return expert_rows_;
}

void BatchReplicaRule::assign(const ReplicaContext& ctx, std::span<const int32_t> topk_ids,
                              int /*top_k*/, std::span<int32_t> slots) const {
  source_of_rank_.assign(ctx.node_of_rank.begin(), ctx.node_of_rank.end());
  if (!per_node_sources_) std::fill(source_of_rank_.begin(), source_of_rank_.end(), 0);
  assign_split_slots(*ctx.placement, ctx.layer, split_, ctx.rank_expert_rows, source_of_rank_,
                     ctx.my_rank, topk_ids, slots);
}

}  // namespace epbench
