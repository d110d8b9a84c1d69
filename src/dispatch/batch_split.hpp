// Per-batch split of each expert's rows among its replicas (DeepSeek LPLB's idea, solved
// exactly). Given the rows every logical expert receives in this batch (gathered from all
// ranks), choose how many rows each physical replica takes so that the most loaded GPU carries
// as few rows as possible. Any placement, any number of replicas per expert.
//
//   split_exact         : the integer optimum (min_max_flow.hpp), with a min-cut certificate.
//   split_exact_on_node : the same maximum, but each node's tokens first fill the expert's
//                         replicas on that node (when it has any) and only the rows that do not
//                         fit there leave the node.
//   split_lplb_lp       : LPLB's own formulation: each non-first replica is an edge from the
//                         GPU of the expert's first replica, its capacity the expert's rows; the
//                         LP optimum (real flows), each edge's flow then rounded to a row count.
//   split_even          : each replica an equal share (what round-robin gives on average).
//
// The result is deterministic (identical on every rank given identical counts). Ranks then take
// their own tokens' share with assign_split_slots: per expert, the rows of a source (all ranks,
// or the ranks of one node) are numbered rank by rank (prefix sums over ranks), and that range
// is laid over the replicas' quotas in replica order, so every row lands in exactly one slot.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dispatch/min_max_flow.hpp"
#include "placement/placement.hpp"

namespace epbench {

struct BatchSplit {
  int num_sources = 1;  // 1: all ranks are one source; else one source per node
  int num_experts = 0, max_replicas = 0;
  // [num_sources][num_experts][max_replicas]: rows of a source's tokens of expert e sent to
  // the expert's r-th replica (Placement::replicas order); 0 past the expert's replica count.
  std::vector<int64_t> replica_rows;
  std::vector<int64_t> slot_rows;  // [num_slots] rows per physical slot
  std::vector<int64_t> gpu_rows;   // [num_gpus]
  int64_t max_gpu_rows = 0;
  // A lower bound any split must respect, ceil(must(S) / |S|) for the GPU set S below (rows
  // fixed on S plus rows of experts with every replica in S): equal to max_gpu_rows for the
  // exact splits, which certifies their optimality.
  int64_t lower_bound = 0;
  std::vector<int32_t> certificate_gpus;
  double lp_max_gpu_rows = 0;  // split_lplb_lp: the LP optimum before rounding

  int64_t& rows(int source, int expert, int replica) {
    return replica_rows[(size_t(source) * num_experts + expert) * max_replicas + replica];
  }
  int64_t rows(int source, int expert, int replica) const {
    return replica_rows[(size_t(source) * num_experts + expert) * max_replicas + replica];
  }
};

// Rows that must land on the GPUs in `gpus` under any split: rows of experts all of whose
// replicas lie there. expert_rows: [num_experts] for this layer. For certificates in tests.
int64_t rows_confined_to(const Placement& placement, int layer,
                         std::span<const int64_t> expert_rows, std::span<const int32_t> gpus);

// Reusable solver (keeps its buffers; one per engine). expert_rows: [num_experts] rows of each
// logical expert in this batch; node_expert_rows: [num_nodes][num_experts].
class BatchSplitSolver {
 public:
  void split_exact(const Placement& placement, int layer, std::span<const int64_t> expert_rows,
                   BatchSplit& out);
  void split_exact_on_node(const Placement& placement, int layer,
                           std::span<const int64_t> node_expert_rows, BatchSplit& out);
  void split_lplb_lp(const Placement& placement, int layer, std::span<const int64_t> expert_rows,
                     BatchSplit& out);
  void split_even(const Placement& placement, int layer, std::span<const int64_t> expert_rows,
                  BatchSplit& out);

 private:
  void prepare(const Placement& placement, int layer, int num_sources, BatchSplit& out);
  // Spreads `rows` sent by `source` for `expert` to GPU `gpu` over the expert's slots there.
  void give(const Placement& placement, BatchSplit& out, int source, int expert, int gpu,
            int64_t rows) const;
  void finish(const Placement& placement, int layer, std::span<const int64_t> expert_rows,
              BatchSplit& out) const;

  int layer_ = 0;
  std::vector<int32_t> gpus_, gpu_start_;  // distinct GPUs of each expert (CSR), increasing
  std::vector<int64_t> fixed_, expert_rows_;
  std::vector<double> fixed_real_;
  std::vector<int32_t> group_expert_, group_source_, local_;
  MinMaxFlow<int64_t> flow_;
  MinMaxFlow<double> flow_real_;
};

// This rank's share: the physical slot of each of its rows. rank_expert_rows: [ranks][experts]
// rows of every rank in this batch (the gathered counts the split was computed from);
// source_of_rank: which source of the split each rank belongs to (all 0, or its node).
// topk_ids: [tokens][top_k] logical experts of my_rank's tokens (row order = token-major).
void assign_split_slots(const Placement& placement, int layer, const BatchSplit& split,
                        std::span<const int64_t> rank_expert_rows,
                        std::span<const int> source_of_rank, int my_rank,
                        std::span<const int32_t> topk_ids, std::span<int32_t> slots);

}  // namespace epbench
