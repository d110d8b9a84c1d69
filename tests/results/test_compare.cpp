// compare_results and the reporters: matching by scenario key, ratios, noise-aware verdicts,
// unmatched runs, and the three output formats.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/error.hpp"
#include "results/compare.hpp"
#include "results/reporters.hpp"

namespace {

using nlohmann::json;
using epbench::ResultsFile;
const std::string kData = EPBENCH_RESULTS_DATA;

json load(const std::string& rel) { return json::parse(std::ifstream(kData + "/" + rel)); }

// Scales one phase's median (and its p99/max, keeping the spread) of every run.
json scaled(json doc, const std::string& phase, double factor) {
  for (auto& run : doc["runs"]) {
    auto& s = run["summary"]["phases_us"][phase];
    for (const char* k : {"median", "p99", "min", "max"})
      if (s.contains(k)) s[k] = s[k].get<double>() * factor;
    if (s.contains("ci95"))
      for (auto& v : s["ci95"]) v = v.get<double>() * factor;
  }
  return doc;
}

const epbench::MetricRow& row(const epbench::ComparisonGroup& g, const std::string& metric) {
  for (const auto& r : g.rows)
    if (r.metric == metric) return r;
  throw std::runtime_error("no row " + metric);
}

TEST(Compare, ClassifyUsesTheLargerSpread) {
  using epbench::Verdict;
  // 5% slower with 8% noise: same; 20% slower: slower.
  EXPECT_EQ(epbench::classify(100, 105, 0.08, 0.02, false), Verdict::kSame);
  EXPECT_EQ(epbench::classify(100, 105, 0.02, 0.08, false), Verdict::kSame);
  EXPECT_EQ(epbench::classify(100, 120, 0.08, 0.02, false), Verdict::kRegressed);
  EXPECT_EQ(epbench::classify(100, 80, 0.08, 0.02, false), Verdict::kImproved);
  EXPECT_EQ(epbench::classify(100, 120, 0.08, 0.02, true), Verdict::kImproved);
  // No spread: the 1% floor applies.
  EXPECT_EQ(epbench::classify(100, 100.5, 0, 0, false), Verdict::kSame);
  EXPECT_EQ(epbench::classify(100, 102, 0, 0, false), Verdict::kRegressed);
}

TEST(Compare, MatchesRunsAcrossMachines) {
  auto cmp = epbench::compare_results(
      {{"h100", load("dgx-h100/ds-mini_np4.json")}, {"a100", load("a100-cluster/ds-mini_np4.json")}},
      {});
  ASSERT_EQ(cmp.groups.size(), 2u);  // none and eplb
  EXPECT_TRUE(cmp.unmatched.empty());
  const auto& g = cmp.groups[0];
  EXPECT_NE(g.key.find("policy=none"), std::string::npos) << g.key;
  EXPECT_EQ(g.baseline, 0u);
  const auto& total = row(g, "total_us");
  ASSERT_TRUE(total.ratios[1].has_value());
  EXPECT_NEAR(*total.ratios[1], *total.values[1] / *total.values[0], 1e-12);
  EXPECT_GT(*total.ratios[1], 2.0);
  EXPECT_EQ(total.verdicts[1], "slower");
  EXPECT_EQ(row(g, "tokens_per_s").verdicts[1], "slower");
  EXPECT_FALSE(total.ratios[0].has_value());
}

TEST(Compare, SameWithinNoiseAndClearlyFaster) {
  const json base = load("dgx-h100/ds-mini_np4.json");  // ~6% p99 spread
  json other = scaled(scaled(base, "ffn", 1.03), "dispatch", 0.5);
  auto cmp = epbench::compare_results({{"a", base}, {"b", other}}, {"ffn_us", "dispatch_us"});
  ASSERT_EQ(cmp.groups.size(), 2u);
  for (const auto& g : cmp.groups) {
    ASSERT_EQ(g.rows.size(), 2u);  // the --metric filter
    EXPECT_EQ(row(g, "ffn_us").verdicts[1], "same");
    EXPECT_EQ(row(g, "dispatch_us").verdicts[1], "faster");
    EXPECT_NEAR(*row(g, "dispatch_us").ratios[1], 0.5, 1e-9);
  }
}

TEST(Compare, BalancednessBetterOrWorse) {
  json base = load("dgx-h100/ds-mini_np4.json");
  json other = base;
  other["runs"][0]["summary"]["balancedness"] = 0.9;
  auto cmp = epbench::compare_results({{"a", base}, {"b", other}}, {"balancedness"});
  EXPECT_EQ(cmp.groups[0].rows[0].verdicts[1], "better");  // 0.537 -> 0.9
  EXPECT_EQ(cmp.groups[1].rows[0].verdicts[1], "same");
}

TEST(Compare, UnmatchedRunsAreListed) {
  json other = load("dgx-h100/ds-mini_np4.json");
  other["scenario"]["skew"] = "uniform";
  other["runs"].erase(1);  // only "none", with another skew
  auto cmp = epbench::compare_results(
      {{"a", load("dgx-h100/ds-mini_np4.json")}, {"b", other}, {"c", load("a100-cluster/ds-mini_np4.json")}},
      {});
  ASSERT_EQ(cmp.groups.size(), 2u);  // a and c match; b matches nothing
  EXPECT_FALSE(cmp.groups[0].present[1]);
  ASSERT_EQ(cmp.unmatched.size(), 1u);
  EXPECT_EQ(cmp.unmatched[0].rfind("only in b: policy=none", 0), 0u) << cmp.unmatched[0];
  EXPECT_NE(cmp.unmatched[0].find("skew=uniform"), std::string::npos);
  auto report = epbench::comparison_report(cmp);
  ASSERT_EQ(report.footer.size(), 1u);
  EXPECT_NE(report.sections[0].notes.at(0).find("not in B (b)"), std::string::npos);
}

TEST(Compare, BaselineIsFirstFileHoldingTheScenario) {
  json a = load("workstation/tiny_weak_np1.json");
  auto cmp = epbench::compare_results(
      {{"a", a}, {"b", load("dgx-h100/ds-mini_np4.json")}, {"c", load("a100-cluster/ds-mini_np4.json")}},
      {"total_us"});
  ASSERT_EQ(cmp.groups.size(), 2u);
  EXPECT_EQ(cmp.groups[0].baseline, 1u);
  EXPECT_EQ(cmp.unmatched.size(), 2u);  // the workstation's two policies
}

TEST(Compare, ErrorsAreInputErrors) {
  json a = load("dgx-h100/ds-mini_np4.json");
  EXPECT_THROW(epbench::compare_results({{"a", a}}, {}), epbench::InputError);
  EXPECT_THROW(epbench::compare_results({{"a", a}, {"b", a}}, {"speed"}), epbench::InputError);
  EXPECT_THROW(epbench::make_reporter("xml"), epbench::InputError);
}

TEST(Compare, HeadersNameTheHardware) {
  EXPECT_EQ(epbench::hardware_label(load("a100-cluster/ds-mini_np4.json")),
            "NVIDIA A100-SXM4-40GB, 2x2, InfiniBand HDR 200 Gb/s");
  EXPECT_EQ(epbench::hardware_label(load("workstation/tiny_weak_np2.json")),
            "AMD Ryzen 9 7950X 16-Core Processor, 1x2");
}

std::string render(const std::string& format, const epbench::Report& report) {
  std::ostringstream out;
  epbench::make_reporter(format)->write(report, out);
  return out.str();
}

epbench::Report sample_report() {
  epbench::Report r;
  r.title = "t";
  r.notes = {"legend"};
  r.sections.push_back({"s1", {"metric", "A, x", "B"}, {{"m1", "1", "2"}, {"m2", "a\"b", "|"}}, {"n1"}});
  r.sections.push_back({"s2", {"metric", "A, x", "B"}, {{"m1", "3", "4"}}, {}});
  r.footer = {"only in B: k"};
  return r;
}

TEST(Reporters, Csv) {
  EXPECT_EQ(render("csv", sample_report()),
            "# legend\n"
            "section,metric,\"A, x\",B\n"
            "s1,m1,1,2\n"
            "s1,m2,\"a\"\"b\",|\n"
            "# n1\n"
            "s2,m1,3,4\n"
            "# only in B: k\n");
}

TEST(Reporters, Markdown) {
  const std::string md = render("markdown", sample_report());
  EXPECT_NE(md.find("## s1\n\n| metric | A, x | B |\n| :--- | ---: | ---: |\n| m1 | 1 | 2 |\n"),
            std::string::npos) << md;
  EXPECT_NE(md.find("| m2 | a\"b | \\| |"), std::string::npos) << md;
  EXPECT_NE(md.find("- only in B: k"), std::string::npos) << md;
}

TEST(Reporters, Table) {
  const std::string text = render("table", sample_report());
  EXPECT_NE(text.find("## s2\nmetric  A, x  B\n    m1     3  4\n"), std::string::npos) << text;
  EXPECT_EQ(epbench::reporter_formats(), "table|markdown|csv");
}

}  // namespace

namespace {

// A version 2 copy of a version 1 file: every timing block gets a CI of width `ci` x median.
json as_v2(json doc, double ci) {
  doc["schema_version"] = 2;
  for (auto& run : doc["runs"]) {
    auto& ph = run["summary"]["phases_us"];
    for (auto& [name, s] : ph.items()) {
      const double m = s["median"].get<double>();
      s["ci95"] = {m * (1 - ci / 2), m * (1 + ci / 2)};
      s["min"] = std::min(s["min"].get<double>(), m * (1 - ci / 2));
      s["max"] = std::max(s["max"].get<double>(), m * (1 + ci / 2));
      s.erase("p99");
    }
  }
  return doc;
}

TEST(Compare, Version2UsesTheConfidenceIntervalOfTheMedian) {
  const json a = as_v2(load("dgx-h100/ds-mini_np4.json"), 0.02);
  // 5 % slower: beyond a 2 %-wide CI (1 % half width) -> slower; within a 20 %-wide one -> same.
  auto narrow = epbench::compare_results({{"a", a}, {"b", scaled(a, "total", 1.05)}}, {});
  EXPECT_EQ(row(narrow.groups[0], "total_us").verdicts[1], "slower");
  const json wide = as_v2(load("dgx-h100/ds-mini_np4.json"), 0.2);
  auto noisy = epbench::compare_results({{"a", wide}, {"b", scaled(wide, "total", 1.05)}}, {});
  EXPECT_EQ(row(noisy.groups[0], "total_us").verdicts[1], "same");
}

TEST(Compare, SaysWhenItComparesAcrossSchemaVersions) {
  const json v1 = load("dgx-h100/ds-mini_np4.json");
  auto cmp = epbench::compare_results({{"v1", v1}, {"v2", as_v2(v1, 0.02)}}, {});
  bool noted = false;
  for (const auto& n : cmp.notes) noted = noted || n.find("different schema versions") != n.npos;
  EXPECT_TRUE(noted);
}

}  // namespace
