// Factories of the replica rules (one file each), for the table in replica_rule.cpp, and the
// shared base of the batch rules.
#pragma once

#include <memory>

#include "dispatch/replica_rule.hpp"

namespace epbench {

std::unique_ptr<ReplicaRule> make_round_robin_rule();
std::unique_ptr<ReplicaRule> make_same_node_rule();
std::unique_ptr<ReplicaRule> make_lp_rule();
std::unique_ptr<ReplicaRule> make_lp_node_rule();
std::unique_ptr<ReplicaRule> make_lplb_rule();

// A rule that splits each batch: subclasses compute split_ in solve(); assign() takes this
// rank's share (assign_split_slots) with the sources the split was made for.
class BatchReplicaRule : public ReplicaRule {
 public:
  bool needs_batch_counts() const override { return true; }
  const BatchSplit* split() const override { return &split_; }
  void assign(const ReplicaContext& ctx, std::span<const int32_t> topk_ids, int top_k,
              std::span<int32_t> slots) const override;

 protected:
  // Rows per logical expert summed over all ranks of the batch.
  std::span<const int64_t> expert_rows(const ReplicaContext& ctx);
  bool per_node_sources_ = false;  // sources are nodes (lp-node) rather than all ranks
  BatchSplit split_;
  BatchSplitSolver solver_;
  std::vector<int64_t> expert_rows_;
  mutable std::vector<int> source_of_rank_;
};

}  // namespace epbench
