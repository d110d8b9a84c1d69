// Dispatch plan: replica choice rules, per-destination counts, send order, regroup plan.
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "dispatch/dispatch_plan.hpp"

namespace {

using epbench::Placement;

// 4 experts, 8 slots on 4 ranks (2 slots each), 2 nodes of 2 ranks.
// Slots: r0 {0,1}  r1 {2,0}  r2 {3,0}  r3 {1,2}  -> expert 0 on ranks 0,1,2; expert 1 on 0,3 ...
Placement example() { return Placement(1, 4, 4, 2, {0, 1, 2, 0, 3, 0, 1, 2}); }
const std::vector<int> kNodes = {0, 0, 1, 1};

TEST(DispatchPlan, CountsAndSendOrderGroupByRankThenSlot) {
  Placement p = example();
  std::vector<int32_t> ids = {0, 1, 2, 3, 0, 2};  // 3 tokens, top-2
  auto plan = epbench::build_dispatch_plan(p, 0, ids, 2, 0, 0, kNodes,
                                           *epbench::make_replica_rule("round-robin"));
  ASSERT_EQ(plan.total_rows(), 6);
  int64_t total = 0;
  for (auto c : plan.send_rows) total += c;
  EXPECT_EQ(total, 6);
  // Send order is non-decreasing in (rank, slot) and inverse of send_position.
  for (int64_t pos = 0; pos < 6; ++pos) {
    EXPECT_EQ(plan.send_position[plan.send_order[pos]], pos);
    if (pos > 0) {
      auto a = plan.send_order[pos - 1], b = plan.send_order[pos];
      auto key = [&](int64_t r) { return plan.dest_rank[r] * 8 + plan.dest_slot[r]; };
      EXPECT_LE(key(a), key(b));
    }
  }
  // Every row goes to a slot that holds its expert.
  for (int64_t r = 0; r < 6; ++r) {
    const int slot = plan.dest_rank[r] * 2 + plan.dest_slot[r];
    EXPECT_EQ(p.phy2log(0, slot), ids[r]);
  }
}

TEST(DispatchPlan, RoundRobinSpreadsTokensOverReplicas) {
  Placement p = example();
  std::vector<int32_t> ids(30, 0);  // 30 tokens, top-1, all expert 0 (replicas on ranks 0,1,2)
  auto plan = epbench::build_dispatch_plan(p, 0, ids, 1, 0, 0, kNodes,
                                           *epbench::make_replica_rule("round-robin"));
  EXPECT_EQ(plan.send_rows, (std::vector<int64_t>{10, 10, 10, 0}));
}

TEST(DispatchPlan, SameNodePrefersLocalReplicas) {
  Placement p = example();
  std::vector<int32_t> ids(30, 0);
  // Rank 3 is on node 1, where expert 0 lives only on rank 2.
  auto plan = epbench::build_dispatch_plan(p, 0, ids, 1, 3, 0, kNodes,
                                           *epbench::make_replica_rule("same-node"));
  EXPECT_EQ(plan.send_rows, (std::vector<int64_t>{0, 0, 30, 0}));
  // Expert 3 lives only on rank 2: a node-0 rank must cross nodes.
  std::vector<int32_t> ids3(5, 3);
  auto plan3 = epbench::build_dispatch_plan(p, 0, ids3, 1, 0, 0, kNodes,
                                            *epbench::make_replica_rule("same-node"));
  EXPECT_EQ(plan3.send_rows, (std::vector<int64_t>{0, 0, 5, 0}));
}

TEST(DispatchPlan, NodeDedupCountsEachRemoteNodeOncePerToken) {
  Placement p = example();
  // Token 0: experts 3 (rank 2, node 1) and 2 (slots 2 on rank 1 / 7 on rank 3, round-robin by
  // token 0 -> rank 1, node 0). Token 1: experts 3 and 1 (slots 1 on rank 0 / 6 on rank 3 ->
  // token 1 picks rank 3, node 1): two rows to node 1, counted once.
  std::vector<int32_t> ids = {3, 2, 3, 1};
  auto plan = epbench::build_dispatch_plan(p, 0, ids, 2, 0, 0, kNodes,
                                           *epbench::make_replica_rule("round-robin"));
  EXPECT_EQ(plan.dest_rank, (std::vector<int32_t>{2, 1, 2, 3}));
  EXPECT_EQ(epbench::inter_node_rows_dedup(plan, kNodes, 0), 2);
  EXPECT_EQ(epbench::inter_node_rows_dedup(plan, kNodes, 2), 1);  // seen from node 1
}

TEST(DispatchPlan, RegroupIsSlotMajor) {
  // 2 sources, 2 slots: rows from src0: slot0 x2, slot1 x1; from src1: slot0 x1, slot1 x3.
  std::vector<int64_t> recv = {2, 1, 1, 3};
  auto g = epbench::build_regroup_plan(recv, 2, 2);
  EXPECT_EQ(g.slot_offsets, (std::vector<int64_t>{0, 3, 7}));
  // Received buffer: [s0 s0 s1 | s0 s1 s1 s1] -> slot 0 rows at 0,1,3; slot 1 rows at 2,4,5,6.
  EXPECT_EQ(g.recv_position, (std::vector<int64_t>{0, 1, 3, 2, 4, 5, 6}));
}

TEST(DispatchPlan, ReplicaRuleRegistry) {
  for (const char* name : {"round-robin", "same-node", "lp", "lp-node", "lplb"})
    EXPECT_EQ(epbench::make_replica_rule(name)->name(), name);
  EXPECT_FALSE(epbench::make_replica_rule("same-node")->needs_batch_counts());
  EXPECT_TRUE(epbench::make_replica_rule("lp")->needs_batch_counts());
  try {
    epbench::make_replica_rule("closest");
    ADD_FAILURE() << "no error for an unknown rule";
  } catch (const epbench::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("known: round-robin, same-node, lp, lp-node, lplb"),
              std::string::npos)
        << e.what();
  }
}

TEST(DispatchPlan, AvoidableInterNodeRows) {
  Placement p = example();
  std::vector<int32_t> ids(30, 0);  // expert 0 on ranks 0, 1 (node 0) and 2 (node 1)
  // Round-robin from rank 3 (node 1) sends 20 of 30 rows to node 0 though rank 2 holds it.
  auto rr = epbench::build_dispatch_plan(p, 0, ids, 1, 3, 0, kNodes,
                                         *epbench::make_replica_rule("round-robin"));
  EXPECT_EQ(rr.avoidable_inter_node_rows, 20);
  auto sn = epbench::build_dispatch_plan(p, 0, ids, 1, 3, 0, kNodes,
                                         *epbench::make_replica_rule("same-node"));
  EXPECT_EQ(sn.avoidable_inter_node_rows, 0);
  // Expert 3 lives only on node 1: crossing is unavoidable from node 0.
  std::vector<int32_t> ids3(5, 3);
  EXPECT_EQ(epbench::build_dispatch_plan(p, 0, ids3, 1, 0, 0, kNodes,
                                         *epbench::make_replica_rule("round-robin"))
                .avoidable_inter_node_rows,
            0);
}

}  // namespace
