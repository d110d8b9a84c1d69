// Dispatch and regroup plans; see dispatch_plan.hpp.
#include "dispatch/dispatch_plan.hpp"

#include <stdexcept>

#include "common/error.hpp"

namespace epbench {

DispatchPlan build_dispatch_plan(const Placement& placement, int layer,
                                 std::span<const int32_t> topk_ids, int top_k, int my_rank,
                                 int64_t first_token_id, std::span<const int> node_of_rank,
                                 const ReplicaRule& rule,
                                 std::span<const int64_t> rank_expert_rows) {
  DispatchPlan plan;
  plan.num_ranks = placement.num_gpus();
  plan.slots_per_rank = placement.slots_per_gpu();
  plan.top_k = top_k;
  const int64_t rows = static_cast<int64_t>(topk_ids.size());
  const int spr = plan.slots_per_rank;
  plan.dest_rank.resize(rows);
  plan.dest_slot.resize(rows);
  plan.send_rows.assign(plan.num_ranks, 0);
  plan.send_slot_rows.assign(static_cast<size_t>(plan.num_ranks) * spr, 0);
  const int my_node = node_of_rank[my_rank];
  for (int32_t expert : topk_ids)
    if (expert < 0 || expert >= placement.num_experts())
      throw std::logic_error("build_dispatch_plan: expert id out of range");

  const ReplicaContext ctx{&placement, layer, my_rank, first_token_id, node_of_rank,
                           rank_expert_rows};
  // dest_slot holds global slots until made local below.
  rule.assign(ctx, topk_ids, top_k, plan.dest_slot);
  std::vector<int8_t> has_local(placement.num_experts(), 0);
  for (int slot = 0; slot < placement.num_slots(); ++slot)
    if (node_of_rank[placement.gpu_of_slot(slot)] == my_node)
      has_local[placement.phy2log(layer, slot)] = 1;
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t slot = plan.dest_slot[r];
    const int32_t rank = placement.gpu_of_slot(slot);
    plan.dest_rank[r] = rank;
    plan.dest_slot[r] = slot - placement.first_slot_of_gpu(rank);
    plan.avoidable_inter_node_rows += node_of_rank[rank] != my_node && has_local[topk_ids[r]];
    ++plan.send_rows[rank];
    ++plan.send_slot_rows[static_cast<size_t>(rank) * spr + plan.dest_slot[r]];
  }

  // Counting sort by (dest rank, dest slot): stable, so a slot's rows keep token order.
  std::vector<int64_t> cursor(plan.send_slot_rows.size());
  int64_t offset = 0;
  for (size_t i = 0; i < cursor.size(); ++i) {
    cursor[i] = offset;
    offset += plan.send_slot_rows[i];
  }
  plan.send_position.resize(rows);
  plan.send_order.resize(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t pos = cursor[static_cast<size_t>(plan.dest_rank[r]) * spr + plan.dest_slot[r]]++;
    plan.send_position[r] = pos;
    plan.send_order[pos] = r;
  }
  return plan;
}

int64_t inter_node_rows_dedup(const DispatchPlan& plan, std::span<const int> node_of_rank,
                              int my_rank) {
  const int my_node = node_of_rank[my_rank], K = plan.top_k;
  int64_t rows = 0;
  for (int64_t t = 0; t < plan.total_rows() / K; ++t)
    for (int k = 0; k < K; ++k) {
      const int node = node_of_rank[plan.dest_rank[t * K + k]];
      bool first = node != my_node;
      for (int j = 0; j < k && first; ++j) first = node_of_rank[plan.dest_rank[t * K + j]] != node;
      rows += first;
    }
  return rows;
}

RegroupPlan build_regroup_plan(std::span<const int64_t> recv_slot_rows, int num_ranks,
                               int slots_per_rank) {
  RegroupPlan plan;
  // Start of each (source, slot) block in the received buffer (source-major).
  std::vector<int64_t> block_start(recv_slot_rows.size());
  int64_t offset = 0;
  for (size_t i = 0; i < recv_slot_rows.size(); ++i) {
    block_start[i] = offset;
    offset += recv_slot_rows[i];
  }
  plan.recv_position.reserve(offset);
  plan.slot_offsets.assign(slots_per_rank + 1, 0);
  for (int s = 0; s < slots_per_rank; ++s) {
    for (int src = 0; src < num_ranks; ++src) {
      const size_t b = static_cast<size_t>(src) * slots_per_rank + s;
      for (int64_t i = 0; i < recv_slot_rows[b]; ++i)
        plan.recv_position.push_back(block_start[b] + i);
    }
    plan.slot_offsets[s + 1] = static_cast<int64_t>(plan.recv_position.size());
  }
  return plan;
}

}  // namespace epbench
