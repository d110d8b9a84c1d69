// Scenario presets, JSON overrides and validation (no MPI needed).
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "suite/scenario.hpp"

namespace {

using epbench::InputError;
using epbench::Scenario;

TEST(Scenario, PresetsHaveTheRealShapes) {
  Scenario ds = epbench::preset("deepseek-v3");
  EXPECT_EQ(ds.model.hidden, 7168);
  EXPECT_EQ(ds.model.ffn, 2048);
  EXPECT_EQ(ds.model.num_experts, 256);
  EXPECT_EQ(ds.model.top_k, 8);
  EXPECT_EQ(ds.model.n_group, 8);
  EXPECT_EQ(ds.model.topk_group, 4);
  EXPECT_EQ(ds.model.score, "sigmoid");
  Scenario q = epbench::preset("qwen3-30b-a3b");
  EXPECT_EQ(q.model.hidden, 2048);
  EXPECT_EQ(q.model.ffn, 768);
  EXPECT_EQ(q.model.num_experts, 128);
  Scenario m = epbench::preset("mixtral-8x7b");
  EXPECT_EQ(m.model.ffn, 14336);
  EXPECT_EQ(m.model.top_k, 2);
  for (const auto& name : epbench::preset_names()) EXPECT_NO_THROW(epbench::preset(name).validate());
  EXPECT_THROW(epbench::preset("gpt5"), InputError);
}

TEST(Scenario, JsonOverridesPresetFields) {
  Scenario s = epbench::preset("small");
  epbench::apply_scenario_json(
      nlohmann::json::parse(R"({"preset": "qwen3-30b-a3b", "tokens_per_rank": 128,
                                "model": {"top_k": 4}, "policies": ["eplb"]})"),
      "test", s);
  EXPECT_EQ(s.model.hidden, 2048);
  EXPECT_EQ(s.model.top_k, 4);
  EXPECT_EQ(s.tokens_per_rank, 128);
  EXPECT_EQ(s.policies, std::vector<std::string>{"eplb"});
  EXPECT_THROW(epbench::apply_scenario_json(nlohmann::json::parse(R"({"hidden": 5})"), "t", s),
               InputError);
  EXPECT_THROW(epbench::apply_scenario_json(nlohmann::json::parse(R"({"seed": "x"})"), "t", s),
               InputError);
}

TEST(Scenario, ValidationNamesTheProblem) {
  auto expect = [](Scenario s, int ranks, const std::string& text) {
    try {
      s.validate_for(ranks);
      FAIL() << "expected: " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  Scenario s = epbench::preset("small");
  Scenario t = s;
  t.model.top_k = 20;
  expect(t, 2, "exceeds the number of experts");
  t = s;
  t.model.topk_group = 9;
  expect(t, 2, "exceeds the number of groups");
  t = s;
  t.policies = {"none"};
  expect(t, 3, "not divisible by 3 ranks");
  t = s;
  t.policies = {"eplb"};
  t.num_redundant_experts = 1;
  expect(t, 4, "not a multiple of 4 ranks");
  t = s;
  t.verify = "sample:0";
  expect(t, 2, "bad --verify");
  t = s;
  t.warmup_steps = 0;
  expect(t, 2, "warm-up");
  t = s;
  t.comm = "nccl";
  expect(t, 2, "--comm nccl needs --backend cuda");
  EXPECT_NO_THROW(s.validate_for(4));
  EXPECT_EQ(s.redundant_experts_for(4), 4);
  EXPECT_EQ(epbench::preset("deepseek-v3").verify_sample(), 4);
}

TEST(Scenario, TraceMustNotWrapOntoFittedSteps) {
  Scenario s = epbench::preset("small");
  s.trace = "t.csv";
  s.warmup_steps = 2;
  s.measured_steps = 3;
  s.policies = {"none", "eplb"};
  // 5 recorded steps: warm-up replays 0-1, measured 2-4: disjoint.
  EXPECT_NO_THROW(s.validate_trace_steps(5));
  // 4: measured step 4 would replay recorded step 0, a step EPLB was fitted on.
  try {
    s.validate_trace_steps(4);
    FAIL() << "a wrapping trace must be refused";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    for (const char* part : {"t.csv", "4 recorded steps", "2 warm-up", "3 measured", "need 5",
                             "in-sample"})
      EXPECT_NE(msg.find(part), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line";
  }
  // Periodic rebalancing fits on measured steps too; still no wrap allowed.
  s.rebalance_every = 1;
  EXPECT_THROW(s.validate_trace_steps(4), InputError);
  // Policy "none" alone fits nothing: wrapping replays, but nothing is in-sample.
  s.policies = {"none"};
  EXPECT_NO_THROW(s.validate_trace_steps(1));
}

}  // namespace
