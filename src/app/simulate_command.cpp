// `epbench simulate`; see simulate_command.hpp and docs/simulate.md.
#include "app/simulate_command.hpp"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "app/scenario_flags.hpp"
#include "app/version.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "measure/context.hpp"
#include "measure/report.hpp"
#include "results/schema.hpp"
#include "sim/profile.hpp"
#include "sim/simulator.hpp"

namespace epbench {
namespace {

struct SimulateOptions {
  ScenarioFlags scenario;
  sim::Cluster cluster;
  std::string profile = "h200", routing = "auto", output, output_dir = "results/local";
  bool quiet = false;
  std::vector<std::string> argv;
};

void run_simulate(const SimulateOptions& opt) {
  const Scenario s = build_scenario(opt.scenario);
  const sim::Profile profile = sim::load_profile(opt.profile);
  sim::SimOptions o{opt.routing, opt.argv, version_string(), git_hash(), {}};
  sim::validate_simulation(s, opt.cluster, o);
  const std::filesystem::path path =
      !opt.output.empty()
          ? std::filesystem::path(opt.output)
          : std::filesystem::path(opt.output_dir) /
                ("epbench-sim-" + s.name + "-g" + std::to_string(opt.cluster.num_gpus) + "-" +
                 profile.name + "-" + utc_timestamp("%Y%m%dT%H%M%SZ") + "-" +
                 std::to_string(::getpid()) + ".json");
  require_input(!std::filesystem::exists(path),
                "results file " + path.string() + " exists: never overwritten");
  const nlohmann::json doc = sim::simulate(s, opt.cluster, profile, o);
  validate_results(doc, path.string());  // what we write must read back
  if (!opt.quiet) {
    std::cout << "# SIMULATED with profile " << profile.name << " (" << profile.description
              << "), routing " << doc["runs"][0]["routing"].get<std::string>() << "\n";
    // The report's columns for what a simulation does not compute (FFN vs a reference GEMM,
    // verification) read 0 in the printed table only; the file does not carry them.
    nlohmann::json shown = doc;
    for (auto& run : shown["runs"])
      run["summary"]["ffn_vs_gemm"] = {{"median", 0.0}, {"min", 0.0}, {"max", 0.0}};
    print_run_report(shown, std::cout);
    std::cout << "# simulated: ffn/gemm and #checked are not computed (shown as 0)\n";
    std::cout << "# imbalance tax (span / balanced-reference span, median over steps x layers)\n";
    for (const auto& run : doc["runs"]) {
      std::cout << "#   " << run["policy"].get<std::string>() << ":";
      for (const char* ph : {"dispatch", "ffn", "combine", "total"})
        std::cout << " " << ph << " " << run["summary"]["tax"][ph]["median"].get<double>();
      std::cout << "\n";
    }
  }
  write_file_atomic(path, doc.dump(1) + "\n", /*overwrite=*/false);
  std::cout << "# results: " << path.string() << std::endl;
}

}  // namespace

void add_simulate_command(CLI::App& app, std::vector<std::string> argv) {
  auto opt = std::make_shared<SimulateOptions>();
  opt->argv = std::move(argv);
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Predict a run on a cluster you do not have: the suite's router, placement and dispatch "
      "planning with a calibrated cost model (no MPI)");
  SimulateOptions& o = *opt;
  add_scenario_flags(cmd, o.scenario);
  cmd->add_option("--gpus", o.cluster.num_gpus, "Simulated GPUs (expert-parallel ranks)")
      ->capture_default_str();
  cmd->add_option("--gpus-per-node", o.cluster.gpus_per_node, "GPUs per node")
      ->capture_default_str();
  cmd->add_option("--cores-per-rank", o.cluster.cores_per_rank,
                  "CPU profiles: cores each rank's FFN runs on (below 1: oversubscribed)")
      ->capture_default_str();
  std::string profiles;
  for (const auto& n : sim::builtin_profile_names()) profiles += (profiles.empty() ? "" : ", ") + n;
  cmd->add_option("--profile", o.profile, "Machine profile: " + profiles + ", or a JSON file")
      ->capture_default_str();
  cmd->add_option("--routing", o.routing,
                  "auto | tokens (real router and dispatch plan per token) | counts (sampled "
                  "per-rank expert counts: any scale)")
      ->capture_default_str();
  cmd->add_option("--output-dir", o.output_dir, "Folder for the results file")->capture_default_str();
  cmd->add_option("--output", o.output, "Exact results file path (never overwritten)");
  cmd->add_flag("--quiet", o.quiet, "Print only the results path");
  cmd->callback([opt] { run_simulate(*opt); });
}

}  // namespace epbench
