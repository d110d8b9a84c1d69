// Step traffic: the real dispatch plan's rows land exactly where build_dispatch_plan sends them;
// sampled counts are conserved and split among replicas as the replica rules do.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "dispatch/dispatch_plan.hpp"
#include "dispatch/replica_rule.hpp"
#include "placement/policy.hpp"
#include "sim/traffic.hpp"

using namespace epbench;
using namespace epbench::sim;

namespace {

// 16 experts on 8 ranks in 2 nodes, 24 slots (3 per rank): experts 0..7 replicated.
Placement replicated_placement() {
  std::vector<int32_t> phy2log(24);
  for (int i = 0; i < 16; ++i) phy2log[i] = i;
  for (int i = 16; i < 24; ++i) phy2log[i] = 23 - i;  // experts 7..0 again, on ranks 5..7
  return Placement(1, 16, 8, 2, phy2log);
}

}  // namespace

TEST(TrafficBuilder, PlanModeMatchesTheRealDispatchPlan) {
  const Placement p = replicated_placement();
  const int R = 8, T = 50, K = 2;
  std::vector<int> node_of(R);
  for (int r = 0; r < R; ++r) node_of[r] = r / 4;
  std::mt19937 rng(7);
  for (const std::string name : {"round-robin", "same-node"})
    for (bool dedup : {false, true}) {
      const auto rule = make_replica_rule(name);
      StepTraffic t;
      TrafficBuilder b(p, 0, 4, split_model_of(name), K, T, dedup, t);
      std::vector<int64_t> slot_rows(24, 0);
      int64_t dedup_rows_total = 0, self = 0;
      for (int r = 0; r < R; ++r) {
        std::vector<int32_t> ids(T * K);
        for (int i = 0; i < T; ++i) {
          ids[i * K] = rng() % 16;
          do ids[i * K + 1] = rng() % 16; while (ids[i * K + 1] == ids[i * K]);
        }
        const DispatchPlan plan = build_dispatch_plan(p, 0, ids, K, r, int64_t(r) * T, node_of, *rule);
        for (int d = 0; d < R; ++d)
          for (int s = 0; s < 3; ++s) slot_rows[d * 3 + s] += plan.send_slot_rows[d * 3 + s];
        dedup_rows_total += inter_node_rows_dedup(plan, node_of, r);
        self += plan.send_rows[r];
        b.add_source_plan(r, plan);
      }
      b.finish();
      EXPECT_EQ(t.slot_rows, slot_rows);
      EXPECT_EQ(std::accumulate(t.inter_rows_dedup.begin(), t.inter_rows_dedup.end(), int64_t{0}),
                dedup_rows_total);
      int64_t self_sim = 0, sent = 0, received = 0;
      for (const auto& rt : t.ranks) {
        self_sim += rt.self_rows;
        sent += rt.sent_rows[0] + rt.sent_rows[1];
        received += rt.received_rows[0] + rt.received_rows[1];
      }
      if (!dedup) EXPECT_EQ(self_sim, self);
      if (dedup) EXPECT_GE(self_sim, self) << "gateways also keep rows for their own experts";
      EXPECT_EQ(sent, received) << "every row sent is received";
      EXPECT_EQ(t.total_rows, int64_t(R) * T * K);
    }
}

TEST(TrafficBuilder, CountsAreConservedAndSplitEvenlyAmongReplicas) {
  const Placement p = replicated_placement();
  StepTraffic t;
  TrafficBuilder b(p, 0, 4, SplitModel::kRoundRobin, 2, 50, false, t);
  std::vector<int64_t> counts(16, 0);
  counts[0] = 11;  // two replicas: slot 0 (rank 0) and slot 23 (rank 7)
  counts[9] = 4;   // one replica: slot 9 (rank 3)
  b.add_source_counts(1, counts, 99);
  b.finish();
  EXPECT_EQ(t.slot_rows[9], 4);
  EXPECT_EQ(t.slot_rows[0] + t.slot_rows[23], 11);
  EXPECT_LE(std::abs(t.slot_rows[0] - t.slot_rows[23]), 1);
  EXPECT_EQ(t.ranks[1].sent_rows[0], t.slot_rows[0] + 4) << "ranks 0 and 3 share node 0";
  EXPECT_EQ(t.ranks[1].sent_rows[1], t.slot_rows[23]);
  EXPECT_EQ(t.ranks[1].sent_peers[0], 2);
  EXPECT_EQ(t.ranks[7].received_peers[1], 1);
}

TEST(TrafficBuilder, SameNodeRuleKeepsRowsOnTheSourceNode) {
  const Placement p = replicated_placement();
  StepTraffic t;
  TrafficBuilder b(p, 0, 4, SplitModel::kSameNode, 2, 50, false, t);
  std::vector<int64_t> counts(16, 0);
  counts[0] = 10;  // replicas on rank 0 (node 0) and rank 7 (node 1)
  b.add_source_counts(6, counts, 1);  // rank 6 is on node 1
  b.finish();
  EXPECT_EQ(t.slot_rows[23], 10);
  EXPECT_EQ(t.ranks[6].sent_rows[1], 0);
}

TEST(TrafficBuilder, NodeDedupSendsOneRowPerTokenAndRemoteNodeThroughTheGateway) {
  const Placement p = contiguous_placement(1, 16, 8, 2);  // experts 2r, 2r+1 on rank r
  std::vector<int> node_of = {0, 0, 0, 0, 1, 1, 1, 1};
  // Rank 0's two tokens both pick experts on ranks 5 and 6 (node 1).
  const std::vector<int32_t> ids = {10, 12, 11, 13};
  const auto rule = make_replica_rule("round-robin");
  const DispatchPlan plan = build_dispatch_plan(p, 0, ids, 2, 0, 0, node_of, *rule);
  StepTraffic t;
  TrafficBuilder b(p, 0, 4, SplitModel::kRoundRobin, 2, 2, true, t);
  b.add_source_plan(0, plan);
  b.finish();
  EXPECT_EQ(t.ranks[0].sent_rows[1], 2) << "two tokens, one remote node";
  EXPECT_EQ(t.ranks[4].received_rows[1], 2) << "gateway: local index 0 of node 1";
  EXPECT_EQ(t.ranks[4].sent_rows[0], 4) << "the gateway forwards all 4 rows inside node 1";
  EXPECT_EQ(t.ranks[5].received_rows[0] + t.ranks[6].received_rows[0], 4);
  EXPECT_EQ(t.inter_rows_dedup[0], 2);
}

// The batch rules' split laid over all ranks at once gives every rank exactly the slots
// assign_split_slots (the engines' per-rank assignment) gives its tokens.
TEST(BatchSplitRows, EqualsTheEnginesPerRankAssignment) {
  const Placement p = replicated_placement();
  const int R = 8, T = 40, K = 2, E = 16;
  std::vector<int> node_of(R);
  for (int r = 0; r < R; ++r) node_of[r] = r / 4;
  std::mt19937 rng(11);
  std::vector<int32_t> ids(size_t(R) * T * K);
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < T; ++i) {
      int32_t* tok = &ids[(size_t(r) * T + i) * K];
      tok[0] = rng() % 3 == 0 ? 0 : rng() % E;  // expert 0 hot
      do tok[1] = rng() % E; while (tok[1] == tok[0]);
    }
  std::vector<int64_t> rank_rows(size_t(R) * E, 0);
  for (int r = 0; r < R; ++r)
    count_expert_rows(std::span<const int32_t>(ids).subspan(size_t(r) * T * K, size_t(T) * K),
                      std::span<int64_t>(rank_rows).subspan(size_t(r) * E, E));
  for (const std::string name : {"lp", "lp-node", "lplb"}) {
    const auto rule = make_replica_rule(name);
    rule->solve({&p, 0, 0, 0, node_of, rank_rows});
    const BatchSplit& split = *rule->split();
    std::vector<int> source_of_rank(R, 0);
    if (split.num_sources > 1) source_of_rank = node_of;
    std::vector<std::vector<int64_t>> from_split(R, std::vector<int64_t>(24, 0));
    batch_split_rows(p, 0, split, rank_rows, source_of_rank,
                     [&](int r, std::span<const SlotRows> rows) {
                       for (const SlotRows& x : rows) from_split[r][x.slot] += x.rows;
                     });
    for (int r = 0; r < R; ++r) {
      const auto mine = std::span<const int32_t>(ids).subspan(size_t(r) * T * K, size_t(T) * K);
      std::vector<int32_t> slots(mine.size());
      rule->assign({&p, 0, r, int64_t(r) * T, node_of, rank_rows}, mine, K, slots);
      std::vector<int64_t> expected(24, 0);
      for (int32_t slot : slots) ++expected[slot];
      EXPECT_EQ(from_split[r], expected) << name << " rank " << r;
    }
  }
}
