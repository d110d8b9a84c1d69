// `epbench compare`: loads and validates the files (folders scanned recursively), matches runs by
// scenario key and prints one section per matched scenario with the first file as baseline
// (rules in results/compare.hpp and results/SCHEMA.md), in the chosen output format.
#include "app/compare_command.hpp"

#include <iostream>
#include <memory>

#include "results/compare.hpp"
#include "results/reporters.hpp"

namespace epbench {
namespace {

struct CompareOptions {
  std::vector<std::string> inputs;
  std::vector<std::string> metrics;
  std::string format = "table";
};

void run_compare(const CompareOptions& opt) {
  auto reporter = make_reporter(opt.format);  // bad --format fails before any file is read
  std::vector<std::string> skipped;
  std::vector<ResultsFile> files = load_compare_inputs(opt.inputs, &skipped);
  Comparison cmp = compare_results(std::move(files), opt.metrics);
  Report report = comparison_report(cmp);
  for (const auto& s : skipped)
    report.footer.push_back("skipped " + s);
  reporter->write(report, std::cout);
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto opt = std::make_shared<CompareOptions>();
  CLI::App* cmd =
      app.add_subcommand("compare", "Compare results files side by side (first = baseline)");
  cmd->add_option("inputs", opt->inputs, "Results files, or folders to scan for *.json")
      ->required();
  cmd->add_option("--format", opt->format, "Output format: " + reporter_formats())
      ->capture_default_str();
  std::string names;
  for (const auto& n : compare_metric_names()) names += (names.empty() ? "" : ", ") + n;
  cmd->add_option("--metric", opt->metrics, "Only these metrics (repeat or comma-separate): " + names)
      ->delimiter(',');
  cmd->callback([opt] { run_compare(*opt); });
}

}  // namespace epbench
