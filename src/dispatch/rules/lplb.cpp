// Replica rule lplb: DeepSeek LPLB's own formulation. Each replica other than an expert's first
// is an edge from the first replica's GPU to its own, with the expert's rows of the batch as
// capacity; the LP minimising the most loaded GPU is solved exactly over real flows
// (BatchSplitSolver::split_lplb_lp) and each edge's flow rounded to whole rows.
#include "dispatch/rules/rules.hpp"

namespace epbench {
namespace {

class LplbRule : public BatchReplicaRule {
 public:
  std::string name() const override { return "lplb"; }
  void solve(const ReplicaContext& ctx) override {
    solver_.split_lplb_lp(*ctx.placement, ctx.layer, expert_rows(ctx), split_);
  }
};

}  // namespace

std::unique_ptr<ReplicaRule> make_lplb_rule() { return std::make_unique<LplbRule>(); }

}  // namespace epbench
