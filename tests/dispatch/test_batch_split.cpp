// Per-batch split: the exact solver against a brute-force optimum on small random cases, its
// min-cut certificate on large ones (EP64, 256 experts in 320 slots), row conservation, the
// node-first and LPLB variants, and every rank's share (assign_split_slots) adding up to the
// split while each rank computes the identical split.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

#include "dispatch/batch_split.hpp"
#include "dispatch/replica_rule.hpp"

namespace {

using epbench::BatchSplit;
using epbench::BatchSplitSolver;
using epbench::Placement;

// Random placement: every expert at least once, the other slots random experts.
Placement random_placement(std::mt19937& rng, int experts, int gpus, int nodes, int slots) {
  std::vector<int32_t> phy2log(slots);
  std::iota(phy2log.begin(), phy2log.begin() + experts, 0);
  for (int s = experts; s < slots; ++s) phy2log[s] = int32_t(rng() % experts);
  std::shuffle(phy2log.begin(), phy2log.end(), rng);
  return Placement(1, experts, gpus, nodes, std::move(phy2log));
}

std::vector<int32_t> distinct_gpus(const Placement& p, int e) {
  std::vector<int32_t> g;
  for (int32_t slot : p.replicas(0, e)) g.push_back(p.gpu_of_slot(slot));
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return g;
}

// Min over all integer splits of every expert's rows among its GPUs of the max GPU load.
int64_t brute_force_optimum(const Placement& p, const std::vector<int64_t>& rows) {
  const int E = p.num_experts();
  std::vector<int64_t> load(p.num_gpus(), 0);
  int64_t best = INT64_MAX;
  std::function<void(int)> expert = [&](int e) {
    if (e == E) {
      best = std::min(best, *std::max_element(load.begin(), load.end()));
      return;
    }
    auto gpus = distinct_gpus(p, e);
    std::function<void(size_t, int64_t)> part = [&](size_t i, int64_t left) {
      if (i + 1 == gpus.size()) {
        load[gpus[i]] += left;
        expert(e + 1);
        load[gpus[i]] -= left;
        return;
      }
      for (int64_t x = 0; x <= left; ++x) {
        load[gpus[i]] += x;
        part(i + 1, left - x);
        load[gpus[i]] -= x;
      }
    };
    part(0, rows[e]);
  };
  expert(0);
  return best;
}

// Rows of the split per expert equal the batch's; only replicas that exist get rows; GPU rows
// add up from slot rows.
void expect_conserved(const Placement& p, const BatchSplit& s, const std::vector<int64_t>& rows) {
  for (int e = 0; e < p.num_experts(); ++e) {
    int64_t sum = 0;
    for (int src = 0; src < s.num_sources; ++src)
      for (int r = 0; r < s.max_replicas; ++r) {
        if (r >= p.logcnt(0, e)) EXPECT_EQ(s.rows(src, e, r), 0);
        EXPECT_GE(s.rows(src, e, r), 0);
        sum += s.rows(src, e, r);
      }
    EXPECT_EQ(sum, rows[e]) << "expert " << e;
  }
  std::vector<int64_t> gpu(p.num_gpus(), 0);
  for (int slot = 0; slot < p.num_slots(); ++slot) gpu[p.gpu_of_slot(slot)] += s.slot_rows[slot];
  EXPECT_EQ(gpu, s.gpu_rows);
  EXPECT_EQ(s.max_gpu_rows, *std::max_element(gpu.begin(), gpu.end()));
}

// The certificate, checked from the placement alone: rows confined to S over |S|, rounded up.
int64_t certified_bound(const Placement& p, const BatchSplit& s, const std::vector<int64_t>& rows) {
  const int64_t n = int64_t(s.certificate_gpus.size());
  EXPECT_GT(n, 0);
  return (epbench::rows_confined_to(p, 0, rows, s.certificate_gpus) + n - 1) / n;
}

TEST(BatchSplit, ExactEqualsBruteForceOnSmallCases) {
  std::mt19937 rng(7);
  BatchSplitSolver solver;
  int better_than_even = 0;  // the cases are not all trivial
  for (int trial = 0; trial < 400; ++trial) {
    const int gpus = 2 + int(rng() % 3), spr = 1 + int(rng() % 2);
    const int experts = std::min<int>(2 + int(rng() % 3), gpus * spr);
    Placement p = random_placement(rng, experts, gpus, 1, gpus * spr);
    std::vector<int64_t> rows(experts);
    for (auto& r : rows) r = int64_t(rng() % 6);
    BatchSplit s;
    solver.split_exact(p, 0, rows, s);
    const int64_t best = brute_force_optimum(p, rows);
    ASSERT_EQ(s.max_gpu_rows, best) << "trial " << trial;
    EXPECT_EQ(s.lower_bound, best);
    EXPECT_EQ(certified_bound(p, s, rows), best);
    expect_conserved(p, s, rows);
    BatchSplit even;
    solver.split_even(p, 0, rows, even);
    better_than_even += even.max_gpu_rows > best;
  }
  EXPECT_GT(better_than_even, 40);
}

TEST(BatchSplit, MinCutCertifiesLargeCases) {
  std::mt19937 rng(11);
  BatchSplitSolver solver;
  for (int trial = 0; trial < 50; ++trial) {
    Placement p = random_placement(rng, 256, 64, 8, 320);
    std::vector<int64_t> rows(256);
    // Zipf-like skew, some experts cold.
    for (int e = 0; e < 256; ++e)
      rows[e] = int64_t(20000.0 / std::pow(1.0 + (rng() % 256), 1.1)) * (rng() % 8 != 0);
    BatchSplit s;
    solver.split_exact(p, 0, rows, s);
    expect_conserved(p, s, rows);
    EXPECT_EQ(certified_bound(p, s, rows), s.max_gpu_rows) << "trial " << trial;
    // Never worse than an equal split.
    BatchSplit even;
    solver.split_even(p, 0, rows, even);
    EXPECT_LE(s.max_gpu_rows, even.max_gpu_rows);
  }
}

TEST(BatchSplit, DegenerateCases) {
  BatchSplitSolver solver;
  BatchSplit s;
  // No replicas: the split is the placement's load; certified by the hottest GPU.
  Placement none(1, 4, 2, 1, {0, 1, 2, 3});
  std::vector<int64_t> rows = {5, 0, 1, 1};
  solver.split_exact(none, 0, rows, s);
  EXPECT_EQ(s.gpu_rows, (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(s.lower_bound, 5);
  // An empty batch.
  std::vector<int64_t> zero(4, 0);
  solver.split_exact(none, 0, zero, s);
  EXPECT_EQ(s.max_gpu_rows, 0);
  // Two replicas of one expert on the same GPU share its rows evenly.
  Placement same(1, 2, 2, 1, {0, 0, 1, 1});
  std::vector<int64_t> r2 = {5, 2};
  solver.split_exact(same, 0, r2, s);
  EXPECT_EQ(s.slot_rows, (std::vector<int64_t>{3, 2, 1, 1}));
}

TEST(BatchSplit, OnNodeKeepsTheOptimumAndStaysLocalWhenItFits) {
  std::mt19937 rng(5);
  BatchSplitSolver solver;
  for (int trial = 0; trial < 60; ++trial) {
    const int gpus = 8, nodes = 2;
    Placement p = random_placement(rng, 16, gpus, nodes, 24);
    std::vector<int64_t> node_rows(size_t(nodes) * 16), rows(16, 0);
    for (int n = 0; n < nodes; ++n)
      for (int e = 0; e < 16; ++e)
        rows[e] += node_rows[size_t(n) * 16 + e] = int64_t(rng() % (trial % 2 ? 40 : 400));
    BatchSplit exact, local;
    solver.split_exact(p, 0, rows, exact);
    solver.split_exact_on_node(p, 0, node_rows, local);
    EXPECT_EQ(local.max_gpu_rows, exact.max_gpu_rows);
    EXPECT_EQ(local.lower_bound, exact.max_gpu_rows);
    expect_conserved(p, local, rows);
    for (int n = 0; n < nodes; ++n)
      for (int e = 0; e < 16; ++e) {
        int64_t sum = 0;
        for (int r = 0; r < local.max_replicas; ++r) sum += local.rows(n, e, r);
        EXPECT_EQ(sum, node_rows[size_t(n) * 16 + e]);
      }
  }
  // Expert 0 has one replica per node, 2 GPUs per node: each node's rows stay home when the
  // optimum allows it (it does: loads 10 + 10 on the two holders, 0 elsewhere ... equal).
  Placement two(1, 3, 4, 2, {0, 1, 2, 0});
  std::vector<int64_t> node_rows = {10, 0, 0, 10, 0, 0};  // [node][expert]
  BatchSplit s;
  solver.split_exact_on_node(two, 0, node_rows, s);
  EXPECT_EQ(s.rows(0, 0, 0), 10);  // node 0's rows -> slot 0 (GPU 0, node 0)
  EXPECT_EQ(s.rows(1, 0, 1), 10);  // node 1's rows -> slot 3 (GPU 3, node 1)
}

TEST(BatchSplit, LplbLpMatchesTheLpRelaxation) {
  std::mt19937 rng(3);
  BatchSplitSolver solver;
  for (int trial = 0; trial < 100; ++trial) {
    // LPLB's shape: every expert at most one extra copy, on another GPU.
    const int gpus = 8, spr = 4, experts = 16;
    std::vector<int32_t> phy2log(gpus * spr);
    for (int g = 0; g < gpus; ++g)
      for (int i = 0; i < 2; ++i) {
        phy2log[g * spr + i] = g * 2 + i;                                  // originals
        phy2log[g * spr + 2 + i] = ((g + 1 + i * 3) % gpus) * 2 + i;       // copies
      }
    Placement p(1, experts, gpus, 1, phy2log);
    std::vector<int64_t> rows(experts);
    for (auto& r : rows) r = int64_t(rng() % 300);
    BatchSplit exact, lplb;
    solver.split_exact(p, 0, rows, exact);
    solver.split_lplb_lp(p, 0, rows, lplb);
    expect_conserved(p, lplb, rows);
    // Integer optimum = LP optimum rounded up; rounding each edge costs at most a few rows.
    EXPECT_LE(lplb.lp_max_gpu_rows, double(exact.max_gpu_rows) + 1e-6);
    EXPECT_EQ(int64_t(std::ceil(lplb.lp_max_gpu_rows - 1e-6)), exact.max_gpu_rows);
    EXPECT_GE(lplb.max_gpu_rows, exact.max_gpu_rows);
    EXPECT_LE(lplb.max_gpu_rows, exact.max_gpu_rows + 4);
  }
}

// All ranks of a batch: each computes the split itself and takes its share; the shares add up
// to the split, every row lands on a replica of its expert, and all splits are identical.
void check_ranks(const std::string& rule_name, int ranks, int nodes, uint32_t seed) {
  std::mt19937 rng(seed);
  const int E = 32, K = 4, T = 64;
  Placement p = random_placement(rng, E, ranks, nodes, E + 2 * ranks);
  std::vector<int> node_of_rank(ranks);
  for (int r = 0; r < ranks; ++r) node_of_rank[r] = r / (ranks / nodes);
  std::vector<std::vector<int32_t>> ids(ranks, std::vector<int32_t>(T * K));
  std::vector<int64_t> counts(size_t(ranks) * E, 0);
  for (int r = 0; r < ranks; ++r) {
    for (auto& e : ids[r]) e = int32_t(std::min<uint32_t>(rng() % E, rng() % E));  // skewed
    epbench::count_expert_rows(ids[r], std::span<int64_t>(counts).subspan(size_t(r) * E, E));
  }
  std::vector<int64_t> slot_rows(p.num_slots(), 0);
  std::vector<int64_t> first_split;
  for (int r = 0; r < ranks; ++r) {
    auto rule = epbench::make_replica_rule(rule_name);  // a fresh rule per rank
    epbench::ReplicaContext ctx{&p, 0, r, int64_t(r) * T, node_of_rank, counts};
    rule->solve(ctx);
    if (r == 0) first_split = rule->split()->replica_rows;
    EXPECT_EQ(rule->split()->replica_rows, first_split) << "rank " << r;
    std::vector<int32_t> slots(ids[r].size());
    rule->assign(ctx, ids[r], K, slots);
    for (size_t i = 0; i < slots.size(); ++i) {
      ASSERT_EQ(p.phy2log(0, slots[i]), ids[r][i]);
      ++slot_rows[slots[i]];
    }
    if (r == ranks - 1) EXPECT_EQ(slot_rows, rule->split()->slot_rows);
  }
}

TEST(BatchSplit, RanksTakeTheirSharesExactly) {
  for (const char* rule : {"lp", "lp-node", "lplb"})
    for (int ranks : {1, 2, 4, 8}) check_ranks(rule, ranks, ranks >= 4 ? 2 : 1, 100 + ranks);
}

TEST(BatchSplit, CountsThatDoNotMatchTheTokensAreABug) {
  Placement p(1, 2, 2, 1, {0, 1, 0, 1});
  std::vector<int> nodes = {0, 0};
  std::vector<int64_t> counts = {1, 0, 1, 0};  // rank 0 claims one row of expert 0
  auto rule = epbench::make_replica_rule("lp");
  epbench::ReplicaContext ctx{&p, 0, 0, 0, nodes, counts};
  rule->solve(ctx);
  std::vector<int32_t> ids = {0, 0}, slots(2);
  EXPECT_THROW(rule->assign(ctx, ids, 1, slots), std::logic_error);
}

}  // namespace
