// JSON form of a placement: phy2log, log2phy (-1 padded), logcnt, per-layer GPU loads and
// balancedness for the load matrix it was computed from.
#pragma once

#include <nlohmann/json.hpp>

#include "placement/placement.hpp"

namespace epbench {

// weight: [layers][experts] row-major loads used for the per-GPU loads and balancedness.
nlohmann::json placement_to_json(const Placement& placement, std::span<const double> weight);

}  // namespace epbench
