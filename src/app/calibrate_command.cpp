// `epbench calibrate FILES... -o profile.json [--check FILES...] [--report FILE.md]`: fits a
// profile (src/sim/calibrate.hpp) and optionally predicts held-out measured runs with it.
#include <iostream>
#include <memory>

#include "app/simulate_command.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "results/schema.hpp"
#include "sim/calibrate.hpp"

namespace epbench {
namespace {

struct CalibrateOptions {
  std::vector<std::string> inputs, check;
  std::string output, name = "fitted", base = "cpu-base", report;
};

std::vector<sim::MeasuredFile> load(const std::vector<std::string>& args) {
  std::vector<sim::MeasuredFile> files;
  std::vector<std::string> skipped;
  for (auto& f : load_results_paths(expand_results_paths(args), &skipped))
    if (!f.doc.value("simulated", false)) files.push_back({f.path.string(), std::move(f.doc)});
  return files;
}

void run_calibrate(const CalibrateOptions& opt) {
  const sim::Profile base = sim::load_profile(opt.base);
  sim::Profile profile;
  if (!opt.inputs.empty()) {
    profile = sim::fit_profile(load(opt.inputs), base, opt.name);
    if (!opt.output.empty()) write_file_atomic(opt.output, profile.to_json().dump(1) + "\n");
    std::cout << profile.to_json().dump(1) << "\n";
  } else {
    profile = base;
  }
  if (opt.check.empty()) return;
  const nlohmann::json check = sim::check_profile(load(opt.check), profile);
  const std::string md = sim::check_markdown(check);
  std::cout << md;
  if (!opt.report.empty()) {
    write_file_atomic(opt.report, md);
    write_file_atomic(opt.report + ".json", check.dump(1) + "\n");
  }
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto opt = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit a simulator profile to measured results files; check it on held-out ones");
  cmd->add_option("inputs", opt->inputs, "Measured results files or folders to fit on");
  cmd->add_option("-o,--output", opt->output, "Write the fitted profile JSON here");
  cmd->add_option("--name", opt->name, "Name of the fitted profile")->capture_default_str();
  cmd->add_option("--base", opt->base,
                  "Profile giving the values the files cannot identify (name or file)")
      ->capture_default_str();
  cmd->add_option("--check", opt->check,
                  "Measured files to predict with the profile (the fitted one, else --base)");
  cmd->add_option("--report", opt->report, "Write the check as markdown (and FILE.json)");
  cmd->callback([opt] {
    require_input(!opt->inputs.empty() || !opt->check.empty(),
                  "calibrate: give results files to fit, or --check files");
    run_calibrate(*opt);
  });
}

}  // namespace epbench
