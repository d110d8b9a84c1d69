// `epbench place`: computes a placement for a load matrix and prints it as a table or writes
// it as JSON.
#pragma once

#include <CLI/CLI.hpp>

namespace epbench {

// Registers the subcommand on `app`; its callback runs the command.
void add_place_command(CLI::App& app);

}  // namespace epbench
