// Per-batch balancing under real mpirun at np 1, 2, 4 and 8: the replica rules lp, lp-node and
// lplb with policies eplb and lplb verify against the dense reference and conserve tokens (so
// every rank computed the same split and took exactly its share), report their count exchange
// and solve times, and lp's most loaded rank never carries more rows than round-robin's on the
// same batches; bad rule and topology flags fail once with exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "run_mpi_fixture.hpp"

namespace {

class LplbMpiNp : public RunMpi, public ::testing::WithParamInterface<int> {
 protected:
  // Policy lplb's topology for np ranks: the cube at 8, else a ring written as an r2o file.
  std::string lplb_topology(int np) {
    if (np == 8) return "cube";
    std::string ring;
    for (int r = 0; r < np; ++r) ring += std::to_string((r + 1) % np) + "\n";
    return "r2o:" + write("ring.csv", ring);
  }
};

void expect_rule_costs(const json& run) {
  const auto& rr = run["summary"]["replica_rule"];
  EXPECT_GT(rr["count_exchange_us"]["median"].get<double>(), 0.0) << run["policy"];
  EXPECT_GT(rr["solve_us"]["median"].get<double>(), 0.0) << run["policy"];
}

TEST_P(LplbMpiNp, LpVerifiesAndNeverLoadsARankMoreThanRoundRobin) {
  const int np = GetParam();
  const std::string base =
      kTiny + " --skew zipf:1.2 --policies eplb --redundant-experts " + std::to_string(2 * np);
  json lp = run_ok(np, base + " --replica-rule lp", "lp.json");
  json rr = run_ok(np, base + " --replica-rule round-robin", "rr.json");
  expect_verified(lp);
  expect_rule_costs(lp["runs"][0]);
  EXPECT_EQ(rr["runs"][0]["summary"]["replica_rule"]["solve_us"]["median"].get<double>(), 0.0);
  // Same seed, same placement, same batches: per sample, lp's balancedness >= round-robin's.
  const auto& a = lp["runs"][0]["samples"]["balancedness"];
  const auto& b = rr["runs"][0]["samples"]["balancedness"];
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 0u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_GE(a[i].get<double>(), b[i].get<double>() - 1e-12);
}

TEST_P(LplbMpiNp, LplbPolicyWithLpAndLplbRules) {
  const int np = GetParam();
  if (np == 1) {
    expect_bad_input(1, kTiny + " --policies lplb --replica-rule lp",
                     "LPLB topology cube needs a multiple of 8 GPUs, got 1");
    return;
  }
  const std::string base = kTiny + " --skew zipf:1.2 --policies lplb --lplb-topology " +
                           lplb_topology(np);
  for (const char* rule : {"lp", "lplb"}) {
    json doc = run_ok(np, base + " --replica-rule " + rule, std::string(rule) + ".json");
    expect_verified(doc);
    ASSERT_EQ(doc["runs"].size(), 1u);
    EXPECT_EQ(doc["runs"][0]["policy"], "lplb");
    EXPECT_EQ(doc["scenario"]["replica_rule"], rule);
    expect_rule_costs(doc["runs"][0]);
  }
}
INSTANTIATE_TEST_SUITE_P(Np, LplbMpiNp, ::testing::Values(1, 2, 4, 8));

TEST_F(RunMpi, LpNodeKeepsRowsOnTheirNode) {
  // Replicas spread over 2 emulated nodes (global policy): lp-node sends fewer rows off-node
  // needlessly than lp, at the same balance.
  const std::string base = kTiny + " --ranks-per-node 2 --groups 4 --topk-groups 2 --skew zipf:1.2 "
                                   "--redundant-experts 16 --policies eplb-global";
  json lp = run_ok(4, base + " --replica-rule lp", "lp.json");
  json node = run_ok(4, base + " --replica-rule lp-node", "node.json");
  expect_verified(node);
  const auto& a = lp["runs"][0]["samples"]["balancedness"];
  const auto& b = node["runs"][0]["samples"]["balancedness"];
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i].get<double>(), b[i].get<double>(), 1e-12);
  EXPECT_LE(node["runs"][0]["summary"]["replica_rule"]["avoidable_inter_node_rows"].get<double>(),
            lp["runs"][0]["summary"]["replica_rule"]["avoidable_inter_node_rows"].get<double>());
}

TEST_F(RunMpi, BadReplicaRuleAndTopologyFlags) {
  expect_bad_input(2, kTiny + " --replica-rule closest",
                   "unknown replica rule \"closest\" (known: round-robin, same-node, lp, "
                   "lp-node, lplb)");
  expect_bad_input(2, kTiny + " --policies lplb --lplb-topology ring",
                   "unknown LPLB topology \"ring\"");
  expect_bad_input(4, kTiny + " --policies lplb --lplb-topology torus",
                   "LPLB topology torus needs >= 2 nodes of >= 2 GPUs");
  expect_bad_input(2, kTiny + " --policies lplb --lplb-topology r2o:/nonexistent/r2o.csv",
                   "cannot read");
}

}  // namespace
