// Replica rule lp: per batch, the exact integer min-max split of each expert's rows among its
// replicas (BatchSplitSolver::split_exact), all ranks one source.
#include "dispatch/rules/rules.hpp"

namespace epbench {
namespace {

class LpRule : public BatchReplicaRule {
 public:
  std::string name() const override { return "lp"; }
  void solve(const ReplicaContext& ctx) override {
    solver_.split_exact(*ctx.placement, ctx.layer, expert_rows(ctx), split_);
  }
};

}  // namespace

std::unique_ptr<ReplicaRule> make_lp_rule() { return std::make_unique<LpRule>(); }

}  // namespace epbench
