// `epbench simulate`: the scenario flags of `run` plus a cluster (--gpus, --gpus-per-node) and a
// machine profile; writes a results file (schema of `run`, "simulated": true) and prints the
// same tables. `epbench calibrate`: fits a profile to measured results files (src/sim/).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace epbench {

void add_simulate_command(CLI::App& app, std::vector<std::string> argv);
void add_calibrate_command(CLI::App& app);

}  // namespace epbench
