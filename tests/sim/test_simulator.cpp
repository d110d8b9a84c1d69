// The simulator against itself (the comparison with real runs under mpirun is
// test_sim_vs_run.cpp): sampled counts agree with token routing within sampling noise; results
// validate; a profile fitted to a run predicts that run.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.hpp"
#include "common/files.hpp"
#include "results/schema.hpp"
#include "sim/calibrate.hpp"
#include "sim/simulator.hpp"

using namespace epbench;
using namespace epbench::sim;

namespace {

const std::string kResults = EPBENCH_RESULTS_DIR;

Profile test_profile() { return load_profile(kResults + "/profiles/cpu-base.json"); }


}  // namespace

// Sampled counts see the shares the router is calibrated to realize (Router::target_shares):
// balancedness and the per-expert loads agree with token routing within sampling noise, for
// skewed distributions too.
TEST(Simulator, SampledCountsAgreeWithTokenRoutingWithinNoise) {
  for (const std::string skew : {"uniform", "zipf:1.2", "hot:2:8"}) {
    Scenario s = preset("small");
    s.skew = skew;
    s.measured_steps = 20;
    s.tokens_per_rank = 512;
    const Cluster c{8, 4};
    SimOptions tokens, counts;
    tokens.routing = "tokens";
    counts.routing = "counts";
    const auto a = simulate(s, c, test_profile(), tokens);
    const auto b = simulate(s, c, test_profile(), counts);
    for (size_t i = 0; i < s.policies.size(); ++i) {
      const auto& ra = a["runs"][i];
      const auto& rb = b["runs"][i];
      EXPECT_NEAR(ra["summary"]["balancedness"].get<double>(),
                  rb["summary"]["balancedness"].get<double>(), 0.03)
          << skew << " " << s.policies[i];
      // Total-variation distance between the realized per-expert loads of the two routings.
      for (size_t l = 0; l < ra["layers"].size(); ++l) {
        const auto x = ra["layers"][l]["tokens_per_expert"].get<std::vector<double>>();
        const auto y = rb["layers"][l]["tokens_per_expert"].get<std::vector<double>>();
        double sx = 0, sy = 0, tv = 0;
        for (size_t e = 0; e < x.size(); ++e) {
          sx += x[e];
          sy += y[e];
        }
        for (size_t e = 0; e < x.size(); ++e) tv += 0.5 * std::abs(x[e] / sx - y[e] / sy);
        EXPECT_LT(tv, 0.05) << skew << " " << s.policies[i] << " layer " << l;
      }
    }
  }
}

TEST(Simulator, LargeSampledRunConservesRowsAndValidates) {
  Scenario s = preset("deepseek-v3");
  s.model.num_experts = 256;
  s.tokens_per_rank = 256;
  s.measured_steps = 3;
  s.drift = 0.5;
  s.rebalance_every = 2;
  s.policies = {"none", "eplb"};
  const Cluster c{64, 8};
  SimOptions o;
  o.routing = "counts";
  const auto doc = simulate(s, c, load_profile(kResults + "/profiles/h200.json"), o);
  validate_results(doc, "simulated");
  EXPECT_TRUE(doc["simulated"].get<bool>());
  for (const auto& run : doc["runs"]) {
    EXPECT_TRUE(run["summary"]["verify"]["tokens_conserved"].get<bool>());
    const auto& tax = run["summary"]["tax"];
    for (const char* ph : {"ffn", "total"}) EXPECT_GE(tax[ph]["median"].get<double>(), 0.99) << ph;
  }
  // EPLB balances better than none under zipf skew; it rebalanced twice (after warm-up, step 2).
  EXPECT_GT(doc["runs"][1]["summary"]["balancedness"].get<double>(),
            doc["runs"][0]["summary"]["balancedness"].get<double>());
  EXPECT_EQ(doc["runs"][1]["summary"]["migration"]["events"].get<int>(), 2);
}

// A profile fitted to a (simulated, hence exactly linear) run predicts it: the fit and the
// simulator read the same features.
TEST(Calibrate, FittedProfilePredictsItsOwnData) {
  Profile truth = test_profile();
  truth.ffn_gflops = 37;
  truth.ffn_slot_us = 12;
  truth.comm_fixed_us = 40;
  truth.intra = {7.0, 3.0};
  Scenario s = preset("small");
  s.measured_steps = 6;
  std::vector<MeasuredFile> files;
  for (auto [gpus, tokens] : {std::pair{2, 256}, std::pair{4, 128}, std::pair{4, 512}}) {
    s.tokens_per_rank = tokens;
    SimOptions o;
    o.routing = "tokens";
    nlohmann::json doc = simulate(s, Cluster{gpus, gpus}, truth, o);
    doc["simulated"] = false;  // stands in for a measured file
    files.push_back({"g" + std::to_string(gpus) + "t" + std::to_string(tokens), doc});
  }
  const Profile fitted = fit_profile(files, test_profile(), "fit");
  const auto check = check_profile(files, fitted);
  for (const auto& [phase, e] : check["per_phase"].items())
    // The fit reads a low percentile of each rank's times and the check compares the simulated
    // median with it: samples with different loads leave a few % even on noise-free data.
    EXPECT_LT(e["max_abs_error"].get<double>(), 0.06) << phase;
  for (const auto& b : check["balancedness"])
    EXPECT_NEAR(b["measured"].get<double>(), b["simulated"].get<double>(), 1e-12);
  EXPECT_THROW(fit_profile({{"x", nlohmann::json::parse(R"({"simulated": true, "runs": []})")}},
                           test_profile(), "f"),
               InputError);
}
