// `epbench compare A.json B.json ... | DIR ...`: side-by-side comparison of results files.
#pragma once

#include <CLI/CLI.hpp>

namespace epbench {

// Registers the subcommand on `app`; its callback runs the command.
void add_compare_command(CLI::App& app);

}  // namespace epbench
