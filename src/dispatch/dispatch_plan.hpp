// Dispatch plan of one rank for one layer: which physical replica (rank, local slot) each
// (token, k) row goes to, per-destination counts, and the send order (rows grouped by
// destination rank, then by destination slot). Pure host code, no communication.
//
// The replica of each row is chosen by a replica rule (replica_rule.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dispatch/replica_rule.hpp"
#include "placement/placement.hpp"

namespace epbench {

struct DispatchPlan {
  int num_ranks = 0;
  int slots_per_rank = 0;
  int top_k = 0;
  // Per row r = token * top_k + k:
  std::vector<int32_t> dest_rank;
  std::vector<int32_t> dest_slot;     // local slot index on dest_rank
  std::vector<int64_t> send_position;  // row's position in the send buffer
  // send_order[i] = row at send-buffer position i (inverse of send_position).
  std::vector<int64_t> send_order;
  std::vector<int64_t> send_rows;        // [num_ranks] rows to each rank
  std::vector<int64_t> send_slot_rows;   // [num_ranks][slots_per_rank]
  // Rows sent to another node although their expert has a replica on this rank's node: the
  // inter-node traffic a rule adds over same-node (a per-batch split may trade it for balance).
  int64_t avoidable_inter_node_rows = 0;

  int64_t total_rows() const { return static_cast<int64_t>(dest_rank.size()); }
};

// node_of_rank: node index of every rank. topk_ids: [num_tokens][top_k] logical experts of
// this rank's tokens; first_token_id: global id of token 0 (for the round-robin rule).
// rank_expert_rows: [ranks][experts] rows of the batch, for rules that need_batch_counts() (whose
// solve() must have run on this batch); empty otherwise.
DispatchPlan build_dispatch_plan(const Placement& placement, int layer,
                                 std::span<const int32_t> topk_ids, int top_k, int my_rank,
                                 int64_t first_token_id, std::span<const int> node_of_rank,
                                 const ReplicaRule& rule,
                                 std::span<const int64_t> rank_expert_rows = {});

// Per token, the number of distinct nodes other than my_rank's among its destinations, summed:
// the rows a node-deduplicating dispatch sends between nodes.
int64_t inter_node_rows_dedup(const DispatchPlan& plan, std::span<const int> node_of_rank,
                              int my_rank);

// Receiver side: given recv_slot_rows [num_ranks][slots_per_rank] (rows arriving from each
// source, per local slot, in source-major then slot order), returns for every position of the
// slot-major regrouped buffer the position in the received buffer, and the slot offsets
// (slots_per_rank + 1 entries).
struct RegroupPlan {
  std::vector<int64_t> recv_position;  // regrouped index -> received-buffer index
  std::vector<int64_t> slot_offsets;
};
RegroupPlan build_regroup_plan(std::span<const int64_t> recv_slot_rows, int num_ranks,
                               int slots_per_rank);

}  // namespace epbench
