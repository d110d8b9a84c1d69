// `epbench validate FILE|DIR...`: checks results files against results/SCHEMA.md.
#pragma once

#include <CLI/CLI.hpp>

namespace epbench {

// Registers the subcommand on `app`; its callback runs the command.
void add_validate_command(CLI::App& app);

}  // namespace epbench
