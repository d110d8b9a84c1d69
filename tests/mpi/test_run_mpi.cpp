// `epbench run` under real mpirun at np 1, 2 and 4: verification against the dense reference,
// exact token conservation, determinism, EPLB beating the baseline under skew, emulated nodes,
// trace replay, periodic rebalancing, and bad input failing fast on every rank.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "run_mpi_fixture.hpp"

namespace {

class RunMpiNp : public RunMpi, public ::testing::WithParamInterface<int> {};

TEST_P(RunMpiNp, VerifiesAgainstDenseReferenceAndConservesTokens) {
  const int np = GetParam();
  json doc = run_ok(np, kTiny + " --policies none,eplb");
  expect_verified(doc);
  EXPECT_EQ(doc["context"]["num_ranks"], np);
  ASSERT_EQ(doc["runs"].size(), 2u);
  // Every rank verified the small preset's sample (32 of its 64 tokens) of every layer on every
  // measured step (3), their top-k re-derived, within the CPU path's rounding bound.
  const auto& verify = doc["runs"][0]["summary"]["verify"];
  EXPECT_EQ(verify["checked_tokens"], 32 * np * 2 * 3);
  EXPECT_TRUE(verify["topk_rederived"].get<bool>());
  EXPECT_LT(verify["max_rel_tolerance"].get<double>(), 5e-3);
  // Tokens received per rank (means over steps, rounded) add up to all routed (token, k) rows.
  for (const auto& layer : doc["runs"][0]["layers"]) {
    int64_t sum = 0;
    for (const auto& t : layer["tokens_per_rank"]) sum += t.get<int64_t>();
    EXPECT_NEAR(double(sum), 64.0 * np * 2, np / 2.0 + 0.5);
  }
}
INSTANTIATE_TEST_SUITE_P(Np, RunMpiNp, ::testing::Values(1, 2, 4));

TEST_F(RunMpi, SameSeedSameRoutingDifferentSeedDifferent) {
  json a = run_ok(2, kTiny + " --seed 5", "a.json");
  json b = run_ok(2, kTiny + " --seed 5", "b.json");
  json c = run_ok(2, kTiny + " --seed 6", "c.json");
  for (size_t i = 0; i < a["runs"].size(); ++i) {
    EXPECT_EQ(a["runs"][i]["layers"][0]["tokens_per_rank"],
              b["runs"][i]["layers"][0]["tokens_per_rank"]);
    EXPECT_EQ(a["runs"][i]["summary"]["balancedness"], b["runs"][i]["summary"]["balancedness"]);
    EXPECT_EQ(a["runs"][i]["summary"]["verify"]["max_rel_err"],
              b["runs"][i]["summary"]["verify"]["max_rel_err"]);
  }
  EXPECT_NE(a["runs"][0]["summary"]["balancedness"], c["runs"][0]["summary"]["balancedness"]);
}

TEST_F(RunMpi, EplbImprovesBalancednessUnderSkew) {
  json doc = run_ok(4, kTiny + " --skew zipf:1.5 --redundant-experts 4 --policies none,eplb");
  expect_verified(doc);
  const double none = doc["runs"][0]["summary"]["balancedness"];
  const double eplb = doc["runs"][1]["summary"]["balancedness"];
  EXPECT_EQ(doc["runs"][0]["policy"], "none");
  EXPECT_LT(none, 0.8) << "the skew should unbalance the baseline";
  EXPECT_GT(eplb, none + 0.1);
  EXPECT_GT(doc["runs"][1]["summary"]["migration"]["bytes"].get<int64_t>(), 0);
}

TEST_F(RunMpi, EmulatedNodesCountInterNodeBytes) {
  json doc = run_ok(4, kTiny + " --ranks-per-node 2 --policies none");
  expect_verified(doc);
  EXPECT_EQ(doc["context"]["num_nodes"], 2);
  EXPECT_EQ(doc["context"]["node_source"], "emulated");
  EXPECT_EQ(doc["context"]["rank_nodes"], json({0, 0, 1, 1}));
  EXPECT_GT(doc["runs"][0]["summary"]["inter_node_bytes"].get<int64_t>(), 0);
  EXPECT_GT(doc["runs"][0]["summary"]["intra_node_bytes"].get<int64_t>(), 0);
}

TEST_F(RunMpi, SameNodeRuleCutsInterNodeTraffic) {
  // The global policy spreads replicas over nodes (hierarchical keeps them inside the group's
  // node), so the replica rule has a choice to make.
  const std::string base = kTiny + " --ranks-per-node 2 --groups 4 --topk-groups 2 "
                                   "--redundant-experts 16 --policies eplb-global";
  json rr = run_ok(4, base + " --replica-rule round-robin", "rr.json");
  json sn = run_ok(4, base + " --replica-rule same-node", "sn.json");
  expect_verified(sn);
  EXPECT_LT(sn["runs"][0]["summary"]["inter_node_bytes"].get<int64_t>(),
            rr["runs"][0]["summary"]["inter_node_bytes"].get<int64_t>());
}

TEST_F(RunMpi, HierarchicalEplbKeepsTokensOnFewerNodes) {
  // 4 emulated nodes, 4 groups, each token limited to 1 group: hierarchical EPLB puts each group
  // on one node, so a token crosses to at most one node; the global policy spreads them.
  json doc = run_ok(4, kTiny + " --ranks-per-node 1 --groups 4 --topk-groups 1 "
                               "--policies eplb,eplb-global --redundant-experts 4");
  expect_verified(doc);
  ASSERT_EQ(doc["runs"].size(), 2u);
  EXPECT_EQ(doc["runs"][0]["policy_used"], "hierarchical");
  EXPECT_EQ(doc["runs"][1]["policy_used"], "global");
  const auto hier = doc["runs"][0]["summary"]["inter_node_bytes_node_dedup"].get<int64_t>();
  const auto glob = doc["runs"][1]["summary"]["inter_node_bytes_node_dedup"].get<int64_t>();
  EXPECT_GT(hier, 0);
  EXPECT_LT(hier, glob);
}

TEST_F(RunMpi, NodeDedupDispatchVerifiesAndSendsEachTokenOncePerNode) {
  for (const std::string rpn : {"1", "2"}) {
    json doc = run_ok(4, kTiny + " --ranks-per-node " + rpn + " --groups 4 --topk-groups 2 "
                                 "--policies none,eplb --dispatch node-dedup",
                      "nd" + rpn + ".json");
    expect_verified(doc);
    EXPECT_EQ(doc["scenario"]["dispatch"], "node-dedup");
    for (const auto& run : doc["runs"]) {
      EXPECT_EQ(run["layer_engine"], "mpi-node-dedup");
      const auto& sum = run["summary"];
      EXPECT_GT(sum["inter_node_bytes"].get<int64_t>(), 0);
      // Real traffic equals the deduplicated count: one row per (token, remote node).
      EXPECT_EQ(sum["inter_node_bytes"], sum["inter_node_bytes_node_dedup"]);
    }
  }
}

TEST_F(RunMpi, HierarchicalEplbCutsRealInterNodeBytesWithNodeDedup) {
  json doc = run_ok(4, kTiny + " --ranks-per-node 1 --groups 4 --topk-groups 1 "
                               "--policies eplb,eplb-global --dispatch node-dedup");
  expect_verified(doc);
  EXPECT_EQ(doc["runs"][0]["policy_used"], "hierarchical");
  EXPECT_LT(doc["runs"][0]["summary"]["inter_node_bytes"].get<int64_t>(),
            doc["runs"][1]["summary"]["inter_node_bytes"].get<int64_t>());
}

// A trace of `steps` recorded steps, a different hot expert in each.
std::string trace_csv(int steps) {
  std::string text = "step,layer";
  for (int e = 0; e < 16; ++e) text += ",e" + std::to_string(e);
  text += "\n";
  for (int step = 0; step < steps; ++step) {
    text += std::to_string(step) + ",*";
    for (int e = 0; e < 16; ++e) text += "," + std::to_string(e == step ? 200 : 10 + e);
    text += "\n";
  }
  return text;
}

TEST_F(RunMpi, TraceReplay) {
  // 2 warm-up + 3 measured steps replay 5 distinct recorded steps: EPLB is fitted on recorded
  // steps 0-1 and measured on 2-4. (This test used a 3-step trace before, which wrapped the
  // measured steps 3 and 4 onto the fitted steps 0 and 1: in-sample.)
  const std::string trace = write("trace.csv", trace_csv(5));
  json doc = run_ok(2, kTiny + " --trace " + trace);
  expect_verified(doc);
  EXPECT_EQ(doc["scenario"]["trace"], trace);
  for (const auto& run : doc["runs"])  // no router to re-derive the top-k from
    EXPECT_FALSE(run["summary"]["verify"]["topk_rederived"].get<bool>());
}

TEST_F(RunMpi, BadInputTraceWrapsOntoFittedSteps) {
  const std::string trace = write("short.csv", trace_csv(3));
  expect_bad_input(2, kTiny + " --trace " + trace, "3 recorded steps, but 2 warm-up + 3 measured");
  // Without a fitted placement nothing is in-sample: policy none alone may wrap.
  expect_verified(run_ok(2, kTiny + " --trace " + trace + " --policies none"));
}

TEST_F(RunMpi, PeriodicRebalancingUnderDrift) {
  json doc = run_ok(2, kTinyShape + " --steps 6 --rebalance-every 2 --window 2 --drift 3 "
                                    "--policies eplb");
  expect_verified(doc);
  EXPECT_EQ(doc["runs"][0]["summary"]["migration"]["events"], 3);
}

TEST_F(RunMpi, BadInputUnknownPreset) { expect_bad_input(2, "--preset gpt5", "unknown preset"); }
TEST_F(RunMpi, BadInputUnknownDistribution) {
  expect_bad_input(2, kTiny + " --skew magic:3", "magic");
}
TEST_F(RunMpi, BadInputTopKAboveExperts) {
  expect_bad_input(2, kTiny + " --top-k 17", "exceeds the number of experts");
}
TEST_F(RunMpi, BadInputTopkGroupAboveGroups) {
  expect_bad_input(2, kTiny + " --topk-groups 5", "exceeds the number of groups");
}
TEST_F(RunMpi, BadInputExpertsNotDivisibleByRanks) {
  expect_bad_input(4, kTiny + " --experts 6 --groups 2 --topk-groups 1 --policies none",
                   "not divisible by 4 ranks");
}
TEST_F(RunMpi, BadInputReplicasNotMultipleOfRanks) {
  expect_bad_input(4, kTiny + " --policies eplb --redundant-experts 1",
                   "not a multiple of 4 ranks");
}
TEST_F(RunMpi, BadInputUnknownDispatch) {
  expect_bad_input(2, kTiny + " --dispatch magic", "unknown dispatch");
}
TEST_F(RunMpi, BadInputMalformedTrace) {
  expect_bad_input(2, kTiny + " --trace " + write("bad.csv", "step,layer,e0\n0,*,x\n"),
                   "bad.csv");
}
TEST_F(RunMpi, BadInputMalformedScenario) {
  expect_bad_input(2, "--scenario " + write("s.json", "{\"tokens_per_rank\": "),
                   "malformed JSON");
}
TEST_F(RunMpi, BadInputUnknownScenarioField) {
  expect_bad_input(2, "--scenario " + write("s.json", "{\"tokens\": 5}"),
                   "unknown scenario field");
}

}  // namespace
