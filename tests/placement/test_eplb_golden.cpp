// Conformance: every case in shared/golden/eplb (produced by the reference eplb.py) must give
// identical phy2log and logcnt, and balancedness equal to the reference's to float precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "metrics/balance.hpp"
#include "placement/eplb.hpp"
#include "placement/problem_io.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path golden_dir() {
  if (const char* env = std::getenv("EPBENCH_GOLDEN_DIR")) return fs::path(env) / "eplb";
  return fs::path(EPBENCH_GOLDEN_DIR) / "eplb";
}

std::vector<std::string> golden_cases() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(golden_dir(), ec))
    if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

class EplbGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(EplbGolden, MatchesReference) {
  const fs::path file = golden_dir() / (GetParam() + ".json");
  std::ifstream in(file);
  ASSERT_TRUE(in) << file;
  const json doc = json::parse(in);
  const epbench::EplbProblem problem = epbench::problem_from_json(doc, file.string());
  const epbench::EplbResult result = epbench::rebalance_experts(problem);
  result.placement.validate();
  EXPECT_EQ(result.policy_used, doc.at("policy").get<std::string>());

  const auto& expected = doc.at("expected");
  const auto exp_phy2log = expected.at("phy2log").get<std::vector<std::vector<int32_t>>>();
  const auto exp_logcnt = expected.at("logcnt").get<std::vector<std::vector<int32_t>>>();
  const auto exp_bal = expected.at("balancedness").get<std::vector<double>>();
  ASSERT_EQ(exp_phy2log.size(), static_cast<size_t>(problem.num_layers));
  for (int l = 0; l < problem.num_layers; ++l) {
    auto row = result.placement.phy2log_row(l);
    EXPECT_EQ(std::vector<int32_t>(row.begin(), row.end()), exp_phy2log[l]) << "layer " << l;
    auto cnt = result.placement.logcnt_row(l);
    EXPECT_EQ(std::vector<int32_t>(cnt.begin(), cnt.end()), exp_logcnt[l]) << "layer " << l;
    const size_t E = problem.num_experts;
    auto loads = result.placement.gpu_loads(
        l, std::span<const double>(problem.weight.data() + l * E, E));
    EXPECT_NEAR(epbench::balancedness(loads), exp_bal[l], 1e-5 * exp_bal[l]) << "layer " << l;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, EplbGolden, ::testing::ValuesIn(golden_cases()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(EplbGolden);

// The golden folder lives beside the repository (../shared). Where it is absent (a user's clone)
// the cases cannot run; CI sets EPBENCH_REQUIRE_GOLDEN=1 so that absence is a failure there.
TEST(EplbGoldenData, Present) {
  const auto cases = golden_cases();
  if (cases.empty()) {
    if (std::getenv("EPBENCH_REQUIRE_GOLDEN")) FAIL() << "no golden cases in " << golden_dir();
    GTEST_SKIP() << "no golden cases in " << golden_dir();
  }
  EXPECT_EQ(cases.size(), 61u) << "expected the 61 reference cases in " << golden_dir();
}

}  // namespace
