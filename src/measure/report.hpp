// Rank 0's human-readable report of a results document: one table row per (policy, layer)
// and one aggregate row per policy, in the spirit of nccl-tests.
#pragma once

#include <ostream>

#include <nlohmann/json.hpp>

namespace epbench {

void print_run_report(const nlohmann::json& results, std::ostream& out);

}  // namespace epbench
