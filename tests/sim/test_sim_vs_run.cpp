// A real `epbench run` under mpirun and `epbench simulate --routing tokens` of the same scenario
// agree exactly on everything that does not depend on the machine: balancedness and rows per
// rank of every layer, dispatch bytes within and between nodes, migration, the realized load
// (the simulator runs the same router, placement and dispatch planning code).
#include "../mpi/run_mpi_fixture.hpp"

namespace {

class SimVsRun : public RunMpi {
 protected:
  void expect_same(int np, int ranks_per_node, const std::string& args) {
    std::filesystem::remove(dir_ / "out.json");  // results are never overwritten
    std::filesystem::remove(dir_ / "sim.json");
    const json real = run_ok(np, args + " --ranks-per-node " + std::to_string(ranks_per_node));
    const std::string out = (dir_ / "sim.json").string();
    auto r = run_process(std::string(EPBENCH_BINARY) + " simulate --routing tokens --gpus " +
                         std::to_string(np) + " --gpus-per-node " +
                         std::to_string(ranks_per_node) + " --profile cpu-base --quiet" + args +
                         " --output " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json sim = json::parse(epbench::testing::slurp(out));
    ASSERT_TRUE(real.contains("runs"));
    ASSERT_EQ(sim["runs"].size(), real["runs"].size());
    for (size_t i = 0; i < real["runs"].size(); ++i) {
      const auto& a = real["runs"][i];
      const auto& b = sim["runs"][i];
      for (size_t l = 0; l < a["layers"].size(); ++l) {
        EXPECT_NEAR(b["layers"][l]["balancedness"].get<double>(),
                    a["layers"][l]["balancedness"].get<double>(), 1e-12)
            << args << " " << a["policy"] << " layer " << l;
        EXPECT_EQ(b["layers"][l]["tokens_per_rank"], a["layers"][l]["tokens_per_rank"]);
        EXPECT_EQ(b["layers"][l]["tokens_per_expert"], a["layers"][l]["tokens_per_expert"]);
      }
      for (const char* key : {"intra_node_bytes", "inter_node_bytes",
                              "inter_node_bytes_node_dedup", "dispatch_bytes"})
        EXPECT_EQ(b["summary"][key], a["summary"][key]) << args << " " << key;
      for (const char* key : {"events", "bytes", "experts_moved", "inter_node_bytes"})
        EXPECT_EQ(b["summary"]["migration"][key], a["summary"]["migration"][key]) << key;
      EXPECT_EQ(b["per_rank"]["send_bytes"], a["per_rank"]["send_bytes"]);
    }
  }
};

}  // namespace

TEST_F(SimVsRun, SameRoutingPlacementAndTrafficOnOneNode) {
  expect_same(2, 2, kTinyShape + " --steps 4 --skew zipf:1.2 --policies none,eplb");
}

TEST_F(SimVsRun, SameWithDriftRebalancingAndEmulatedNodes) {
  expect_same(4, 2, kTinyShape + " --steps 4 --skew hot:2:8 --drift 1 --rebalance-every 2 "
                    "--window 2 --policies none,eplb,eplb-global --replica-rule same-node");
}

TEST_F(SimVsRun, SameWithNodeDedupDispatch) {
  expect_same(4, 1, kTinyShape + " --steps 3 --skew zipf:0.8 --dispatch node-dedup");
}

// The batch replica rules (count exchange and split per batch) and the search policies.
TEST_F(SimVsRun, SameWithBatchReplicaRulesAndSearchPolicies) {
  expect_same(4, 2, kTinyShape + " --steps 3 --skew hot:2:8 --rebalance-every 2 --window 2 "
                    "--policies eplb,minmax --replica-rule lp");
  expect_same(4, 2, kTinyShape + " --steps 2 --skew zipf:1.2 --policies eplb --replica-rule lp-node");
  expect_same(4, 2, kTinyShape + " --steps 2 --skew zipf:1.2 --policies minmax "
                    "--replica-rule lplb --max-moved-experts 2 --rebalance-every 1");
}

// Trace replay: the recorded counts are the routing, so both see exactly the same rows.
TEST_F(SimVsRun, SameUnderTraceReplay) {
  std::string text = "step,layer";
  for (int e = 0; e < 16; ++e) text += ",e" + std::to_string(e);
  text += "\n";
  for (int step = 0; step < 5; ++step) {  // 2 warm-up + 3 measured, a different hot expert each
    text += std::to_string(step) + ",*";
    for (int e = 0; e < 16; ++e) text += "," + std::to_string(e == 3 * step ? 300 : 8 + e);
    text += "\n";
  }
  const std::string trace = write("trace.csv", text);
  expect_same(4, 2, kTinyShape + " --steps 3 --trace " + trace +
                        " --policies none,eplb,minmax --replica-rule lp --rebalance-every 2");
}
