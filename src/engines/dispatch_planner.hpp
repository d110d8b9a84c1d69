// The dispatch plan of one layer step, as every engine builds it: for a batch replica rule (lp,
// lp-node, lplb) first the count exchange (MPI_Allgather of every rank's rows per logical
// expert: a real cost per-batch balancing pays, timed on its own) and the split (solve, timed),
// identical on every rank; then the plan from the rule (dispatch/dispatch_plan.hpp). Static
// rules (round-robin, same-node) need neither. Collective when the rule needs batch counts.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "comm/mpi_comm.hpp"
#include "dispatch/dispatch_plan.hpp"
#include "dispatch/replica_rule.hpp"

namespace epbench {

struct PlanTiming {
  double count_exchange_us = 0;  // MPI_Allgather of the [ranks][experts] rows (0: static rule)
  double solve_us = 0;           // the split (0: static rule)
};

class DispatchPlanner {
 public:
  explicit DispatchPlanner(const std::string& replica_rule);
  const ReplicaRule& rule() const { return *rule_; }
  // topk_ids: [tokens][top_k] of this rank; first_token_id: global id of its token 0.
  DispatchPlan plan(const Placement& placement, int layer, std::span<const int32_t> topk_ids,
                    int top_k, int64_t first_token_id, const comm::Topology& topo,
                    PlanTiming& timing);
  // The split of the last plan() (batch rules), else nullptr.
  const BatchSplit* split() const { return rule_->split(); }

 private:
  std::unique_ptr<ReplicaRule> rule_;
  std::vector<int64_t> my_rows_, rank_expert_rows_;
};

}  // namespace epbench
