// `epbench plot DIR [-o OUTDIR]`: runs results/plot.py (matplotlib) on a results folder.
#pragma once

#include <CLI/CLI.hpp>

namespace epbench {

// Registers the subcommand on `app`; its callback runs the command.
void add_plot_command(CLI::App& app);

}  // namespace epbench
