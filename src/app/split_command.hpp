// `epbench split`: the per-batch split of recorded expert loads on a given placement, for
// offline study of per-batch balancing (docs/lplb.md).
#pragma once

#include <CLI/CLI.hpp>

namespace epbench {

void add_split_command(CLI::App& app);

}  // namespace epbench
