// Replica rules: which physical replica each (token, expert) row of a rank goes to when an
// expert has several. A registry: one entry per rule, one file per rule in rules/.
//   round-robin : replica = global token id mod replica count (static, no communication).
//   same-node   : as round-robin among the replicas on the token's node when it has any.
//   lp          : per batch, the exact min-max split of each expert's rows (batch_split.hpp).
//   lp-node     : the same maximum, each node's tokens filling the replicas on their own node
//                 first; only rows that do not fit there leave the node.
//   lplb        : DeepSeek LPLB's own LP (flows along first-replica -> copy edges, real
//                 flows rounded per edge).
// Batch rules (needs_batch_counts) need the rows of every (rank, expert) of the batch, gathered
// by the engine (the "count exchange"), and solve() on every rank before assign().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dispatch/batch_split.hpp"
#include "placement/placement.hpp"

namespace epbench {

struct ReplicaContext {
  const Placement* placement = nullptr;
  int layer = 0;
  int my_rank = 0;
  int64_t first_token_id = 0;            // global id of my token 0 (round-robin)
  std::span<const int> node_of_rank;     // node of every rank
  std::span<const int64_t> rank_expert_rows;  // [ranks][experts] of this batch (batch rules)
};

class ReplicaRule {
 public:
  virtual ~ReplicaRule() = default;
  virtual std::string name() const = 0;
  virtual bool needs_batch_counts() const { return false; }
  // Batch rules: computes the split of this batch from ctx.rank_expert_rows; deterministic, so
  // every rank computes the same one.
  virtual void solve(const ReplicaContext& /*ctx*/) {}
  virtual const BatchSplit* split() const { return nullptr; }
  // The physical slot of each of my rows (topk_ids token-major, top_k per token).
  virtual void assign(const ReplicaContext& ctx, std::span<const int32_t> topk_ids, int top_k,
                      std::span<int32_t> slots) const = 0;
};

struct ReplicaRuleEntry {
  std::string name;
  std::string description;
  std::function<std::unique_ptr<ReplicaRule>()> make;
};

const std::vector<ReplicaRuleEntry>& replica_rules();
// Throws InputError listing the known rules when `name` is not one of them.
const ReplicaRuleEntry& find_replica_rule(const std::string& name);
std::unique_ptr<ReplicaRule> make_replica_rule(const std::string& name);
std::string replica_rule_names();  // "round-robin, same-node, ..."

// rows[e] += occurrences of expert e in topk_ids (rows of one rank per logical expert).
void count_expert_rows(std::span<const int32_t> topk_ids, std::span<int64_t> rows);

}  // namespace epbench
