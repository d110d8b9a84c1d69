// Replica rule lp-node: the exact min-max maximum of lp, with each node's tokens filling the
// expert's replicas on that node first (when it has any); only rows that do not fit under the
// optimum leave the node (BatchSplitSolver::split_exact_on_node). One source per node.
#include <stdexcept>

#include "dispatch/rules/rules.hpp"

namespace epbench {
namespace {

class LpNodeRule : public BatchReplicaRule {
 public:
  LpNodeRule() { per_node_sources_ = true; }
  std::string name() const override { return "lp-node"; }
  void solve(const ReplicaContext& ctx) override {
    const Placement& p = *ctx.placement;
    const int E = p.num_experts(), N = p.num_nodes();
    const size_t R = ctx.node_of_rank.size();
    if (ctx.rank_expert_rows.size() != R * E)
      throw std::logic_error("lp-node: batch counts are not [ranks][experts]");
    node_rows_.assign(size_t(N) * E, 0);
    for (size_t r = 0; r < R; ++r) {
      const int n = ctx.node_of_rank[r];
      if (n < 0 || n >= N) throw std::logic_error("lp-node: rank's node outside the placement");
      for (int e = 0; e < E; ++e) node_rows_[size_t(n) * E + e] += ctx.rank_expert_rows[r * E + e];
    }
    solver_.split_exact_on_node(p, ctx.layer, node_rows_, split_);
  }

 private:
  std::vector<int64_t> node_rows_;
};

}  // namespace

std::unique_ptr<ReplicaRule> make_lp_node_rule() { return std::make_unique<LpNodeRule>(); }

}  // namespace epbench
