// `epbench place` with the minmax policy: lower bound and gap per layer (JSON and table),
// the placement file read back as --current with --max-moved-experts, and the new bad inputs
// (one stderr line, exit code 2).
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "../common/run_process.hpp"

namespace fs = std::filesystem;
using epbench::testing::run_process;
using nlohmann::json;

namespace {

const std::string kBinary = EPBENCH_BINARY;
const std::string kExample = std::string(EPBENCH_EXAMPLES_DIR) + "/deepseek-v3-zipf.json";

class PlaceMinmaxCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("epbench_minmax_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  json place(const std::string& args, const std::string& out) {
    auto r = run_process(kBinary + " place " + args + " --output " + out);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    return json::parse(std::ifstream(out));
  }
  void expect_input_error(const std::string& args, const std::string& text) {
    auto r = run_process(kBinary + " place " + args);
    EXPECT_EQ(r.exit_code, 2) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }
  fs::path dir_;
};

TEST_F(PlaceMinmaxCli, JsonCarriesBoundGapAndShape) {
  const json eplb = place("--input " + kExample, path("eplb.json"));
  const json minmax = place("--input " + kExample + " --policy minmax", path("minmax.json"));
  for (const json* doc : {&eplb, &minmax}) {
    for (const char* key : {"lower_bound", "gap", "mean_gap", "num_gpus", "num_nodes",
                            "num_groups", "num_experts", "bound_seconds"})
      EXPECT_TRUE(doc->contains(key)) << key;
    EXPECT_EQ((*doc)["num_gpus"], 32);
    EXPECT_EQ((*doc)["num_nodes"], 4);
  }
  EXPECT_EQ(minmax["policy"], "minmax");
  EXPECT_EQ(minmax["policy_used"], "hierarchical");
  ASSERT_TRUE(minmax.contains("proven_optimal"));
  const size_t layers = eplb["phy2log"].size();
  for (size_t l = 0; l < layers; ++l) {
    // Same loads, same constraints: the same bound; minmax never above EPLB's max.
    EXPECT_DOUBLE_EQ(eplb["lower_bound"][l].get<double>(), minmax["lower_bound"][l].get<double>());
    const double eplb_max = eplb["lower_bound"][l].get<double>() /
                            (1 - eplb["gap"][l].get<double>());
    double minmax_max = 0;
    for (const auto& g : minmax["gpu_loads"][l]) minmax_max = std::max(minmax_max, g.get<double>());
    EXPECT_LE(minmax_max, eplb_max * (1 + 1e-9)) << "layer " << l;
    EXPECT_GE(minmax["gap"][l].get<double>(), -1e-12);
    EXPECT_LE(minmax["gap"][l].get<double>(), eplb["gap"][l].get<double>() + 1e-12);
  }
}

TEST_F(PlaceMinmaxCli, TableShowsBoundAndGap) {
  auto r = run_process(kBinary + " place --policy minmax --input " + kExample);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lower_bound"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gap"), std::string::npos) << r.out;
}

TEST_F(PlaceMinmaxCli, CurrentPlacementAndMovedLimit) {
  // Yesterday's placement (EPLB on the example), today's loads: the example reversed per layer.
  place("--input " + kExample, path("current.json"));
  json problem = json::parse(std::ifstream(kExample));
  for (auto& row : problem["weight"]) std::reverse(row.begin(), row.end());
  std::ofstream(path("today.json")) << problem.dump();
  const json doc = place("--policy minmax --input " + path("today.json") + " --current " +
                             path("current.json") + " --max-moved-experts 5",
                         path("next.json"));
  ASSERT_TRUE(doc.contains("moved_experts"));
  EXPECT_EQ(doc["max_moved_experts"], 5);
  for (const auto& m : doc["moved_experts"]) EXPECT_LE(m.get<int>(), 5);
  auto r = run_process(kBinary + " place --policy minmax --input " + path("today.json") +
                       " --current " + path("current.json") + " --max-moved-experts 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("moved_experts"), std::string::npos) << r.out;
}

TEST_F(PlaceMinmaxCli, TimeBudgetIsAccepted) {
  const json doc = place("--input " + kExample + " --policy minmax --time-budget-ms 5",
                         path("b.json"));
  EXPECT_EQ(doc["time_budget_ms"], 5.0);
}

TEST_F(PlaceMinmaxCli, MovedLimitNeedsCurrent) {
  expect_input_error("--input " + kExample + " --policy minmax --max-moved-experts 3",
                     "--max-moved-experts needs --current");
}

TEST_F(PlaceMinmaxCli, NegativeTimeBudget) {
  expect_input_error("--input " + kExample + " --policy minmax --time-budget-ms -1",
                     "must not be negative");
}

TEST_F(PlaceMinmaxCli, CurrentOfAnotherShape) {
  std::ofstream(path("small.json"))
      << R"({"weight": [[5,1,1,1,2,2,9,3]], "num_replicas": 8, "num_groups": 2,
             "num_nodes": 1, "num_gpus": 4})";
  place("--input " + path("small.json"), path("small_out.json"));
  expect_input_error("--input " + kExample + " --policy minmax --current " +
                         path("small_out.json"),
                     "differs from the problem's");
}

TEST_F(PlaceMinmaxCli, MalformedCurrent) {
  std::ofstream(path("bad.json")) << R"({"phy2log": [[0, 1]], "num_gpus": 2})";
  expect_input_error("--input " + kExample + " --policy minmax --current " + path("bad.json"),
                     "num_experts");
}

}  // namespace
