// validate_results: the example files pass; each kind of defect (missing field, wrong type,
// inconsistent lengths, broken formulas, other schema versions) fails naming the field.
#include <gtest/gtest.h>

#include <fstream>

#include "common/error.hpp"
#include "results/schema.hpp"

namespace {

using nlohmann::json;
const std::string kData = EPBENCH_RESULTS_DATA;

json example() {
  return json::parse(std::ifstream(kData + "/dgx-h100/ds-mini_np4.json"));
}

// Expects validation to fail with a message containing `text`.
void expect_invalid(const json& doc, const std::string& text) {
  try {
    epbench::validate_results(doc, "x.json");
    ADD_FAILURE() << "no error, expected: " << text;
  } catch (const epbench::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).rfind("x.json: ", 0), 0u) << e.what();
  }
}

TEST(ResultsSchema, ExampleFilesAreValid) {
  auto paths = epbench::expand_results_paths({kData});
  EXPECT_EQ(paths.size(), 7u);
  for (const auto& p : paths) EXPECT_NO_THROW(epbench::load_results_file(p.path)) << p.path;
}

TEST(ResultsSchema, ExtraFieldsAreIgnored) {
  json doc = example();
  doc["context"]["power_w"] = {1, 2};
  doc["runs"][0]["notes"] = "hello";
  EXPECT_NO_THROW(epbench::validate_results(doc, "x.json"));
}

TEST(ResultsSchema, MissingField) {
  json doc = example();
  doc["runs"][0]["summary"]["phases_us"]["ffn"].erase("median");
  expect_invalid(doc, "runs[0].summary.phases_us.ffn.median: missing");
}

TEST(ResultsSchema, WrongType) {
  json doc = example();
  doc["context"]["num_ranks"] = "4";
  expect_invalid(doc, "context.num_ranks: expected an integer, got string");
  doc = example();
  doc["runs"][1]["summary"]["tokens_per_s"] = nullptr;
  expect_invalid(doc, "runs[1].summary.tokens_per_s: expected a number, got null");
}

TEST(ResultsSchema, PerRankLengthMustMatchRanks) {
  json doc = example();
  doc["runs"][0]["per_rank"]["send_bytes"].erase(0);
  expect_invalid(doc, "runs[0].per_rank.send_bytes: has 3 entries, expected 4");
  doc = example();
  doc["runs"][0]["per_rank"]["phase_us_median"]["gate"].push_back(1.0);
  expect_invalid(doc, "runs[0].per_rank.phase_us_median.gate: has 5 entries");
}

TEST(ResultsSchema, LayerCountMustMatchScenario) {
  json doc = example();
  doc["scenario"]["num_layers"] = 3;
  expect_invalid(doc, "runs[0].layers: has 2 entries, expected 3");
}

TEST(ResultsSchema, NegativeWrongCount) {
  json doc = example();
  doc["runs"][0]["summary"]["verify"]["wrong"] = -1;
  expect_invalid(doc, "runs[0].summary.verify.wrong: must be >= 0");
}

TEST(ResultsSchema, SchemaNameAndVersion) {
  json doc = example();
  doc["schema_version"] = 3;
  expect_invalid(doc, "schema_version: version 3 is not supported: this epbench reads "
                      "epbench.results versions 1 to 2");
  doc = example();
  doc["schema"] = "nvbench";
  expect_invalid(doc, "schema: \"nvbench\" is not \"epbench.results\"");
  expect_invalid(json::array(), "(top level): expected an object");
}

TEST(ResultsSchema, FormulasAreChecked) {
  json doc = example();
  doc["runs"][0]["summary"]["dispatch_busbw_GBps"] =
      doc["runs"][0]["summary"]["dispatch_algbw_GBps"];
  expect_invalid(doc, "runs[0].summary.dispatch_busbw_GBps");
  doc = example();
  doc["runs"][0]["summary"]["tokens_per_s"] = 1.0;
  expect_invalid(doc, "runs[0].summary.tokens_per_s: 1.0 does not match");
}

TEST(ResultsSchema, PhaseStatsOrdered) {
  json doc = example();
  doc["runs"][0]["layers"][1]["phases_us"]["gate"]["p99"] = 0.0;
  expect_invalid(doc, "runs[0].layers[1].phases_us.gate: expected min <= median <= p99 <= max");
}

TEST(ResultsSchema, EnumsAndConsistency) {
  json doc = example();
  doc["context"]["node_source"] = "guess";
  expect_invalid(doc, "context.node_source: \"guess\" is not one of");
  doc = example();
  doc["context"]["rank_nodes"][3] = 5;
  expect_invalid(doc, "context.rank_nodes[3]: node 5 >= num_nodes 1");
  doc = example();
  doc["runs"][1]["policy"] = "magic";
  expect_invalid(doc, "runs[1].policy: \"magic\" is not in scenario.policies");
  doc = example();
  doc["context"]["date_utc"] = "yesterday";
  expect_invalid(doc, "context.date_utc");
}

TEST(ResultsSchema, FolderScanSkipsOtherJson) {
  auto paths = epbench::expand_results_paths({std::string(EPBENCH_RESULTS_BAD)});
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_TRUE(paths[0].from_folder);
  // The schema_version 2 file claims the schema, so it is validated (and refused), not skipped.
  EXPECT_THROW(epbench::load_results_paths(paths, nullptr), epbench::InputError);
  EXPECT_THROW(epbench::expand_results_paths({"/nonexistent/x.json"}), epbench::InputError);
}

}  // namespace

namespace {

// Version 2 requires the imbalance tax, the balanced reference and a CI on every block, and no
// longer requires p99 (written only with >= 100 samples).
TEST(ResultsSchema, Version2NeedsTaxAndConfidenceIntervals) {
  json doc = example();
  doc["schema_version"] = 2;
  expect_invalid(doc, ".ci95: missing");
  auto add_ci = [](json& block) {
    for (auto& [name, s] : block.items()) s["ci95"] = {s["min"], s["max"]};
  };
  for (auto& run : doc["runs"]) {
    add_ci(run["summary"]["phases_us"]);
    for (auto& layer : run["layers"]) add_ci(layer["phases_us"]);
    run["summary"]["dispatch_busbw_nccl_tests_GBps"] = run["summary"]["dispatch_busbw_GBps"];
    for (auto& [name, list] : run["per_rank"]["phase_us_median"].items()) (void)list;
  }
  expect_invalid(doc, "summary.tax: missing");
  for (auto& run : doc["runs"]) {
    json stats = {{"median", 1.1}, {"min", 1.0}, {"max", 1.3}, {"ci95", {1.0, 1.2}}};
    for (const char* p : {"layout", "dispatch", "ffn", "combine", "total"}) {
      run["summary"]["tax"][p] = stats;
      run["summary"]["balanced_phases_us"][p] = stats;
    }
    run["summary"]["phases_us"]["total"].erase("p99");  // optional in version 2
  }
  EXPECT_NO_THROW(epbench::validate_results(doc, "x.json"));
  doc["runs"][0]["summary"]["tax"]["ffn"]["ci95"] = {1.2, 1.25};  // median outside its CI
  expect_invalid(doc, "summary.tax.ffn.ci95: expected min <= ci95[0] <= median");
}

}  // namespace
