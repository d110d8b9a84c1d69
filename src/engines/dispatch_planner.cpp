// Dispatch planning with the optional per-batch count exchange and split; see
// dispatch_planner.hpp.
#include "engines/dispatch_planner.hpp"

namespace epbench {

DispatchPlanner::DispatchPlanner(const std::string& replica_rule)
    : rule_(make_replica_rule(replica_rule)) {}

DispatchPlan DispatchPlanner::plan(const Placement& placement, int layer,
                                   std::span<const int32_t> topk_ids, int top_k,
                                   int64_t first_token_id, const comm::Topology& topo,
                                   PlanTiming& timing) {
  timing = PlanTiming{};
  rank_expert_rows_.clear();
  if (rule_->needs_batch_counts()) {
    const int E = placement.num_experts(), R = topo.num_ranks;
    my_rows_.assign(E, 0);
    count_expert_rows(topk_ids, my_rows_);
    rank_expert_rows_.resize(size_t(R) * E);
    const double t0 = MPI_Wtime();
    CHECK_MPI(MPI_Allgather(my_rows_.data(), E, MPI_INT64_T, rank_expert_rows_.data(), E,
                            MPI_INT64_T, MPI_COMM_WORLD));
    const double t1 = MPI_Wtime();
    rule_->solve({&placement, layer, topo.rank, first_token_id, topo.node_of_rank,
                  rank_expert_rows_});
    timing.count_exchange_us = (t1 - t0) * 1e6;
    timing.solve_us = (MPI_Wtime() - t1) * 1e6;
  }
  return build_dispatch_plan(placement, layer, topk_ids, top_k, topo.rank, first_token_id,
                             topo.node_of_rank, *rule_, rank_expert_rows_);
}

}  // namespace epbench
