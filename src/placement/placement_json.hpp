// JSON form of a placement: phy2log, log2phy (-1 padded), logcnt, per-layer GPU loads and
// balancedness for the load matrix it was computed from; and reading one back (the file
// `epbench place --output` writes, as the current placement of a migration-aware rebalance).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "placement/placement.hpp"

namespace epbench {

// weight: [layers][experts] row-major loads used for the per-GPU loads and balancedness.
nlohmann::json placement_to_json(const Placement& placement, std::span<const double> weight);

// Reads phy2log [layers][slots], num_experts, num_gpus and num_nodes (other fields ignored).
// Throws InputError naming `source` on anything malformed or inconsistent.
Placement placement_from_json(const nlohmann::json& doc, const std::string& source);

}  // namespace epbench
