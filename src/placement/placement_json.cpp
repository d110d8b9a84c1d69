// JSON form of a placement; see placement_json.hpp.
#include "placement/placement_json.hpp"

#include "metrics/balance.hpp"

namespace epbench {

nlohmann::json placement_to_json(const Placement& p, std::span<const double> weight) {
  using nlohmann::json;
  json phy2log = json::array(), log2phy = json::array(), logcnt = json::array();
  json gpu_loads = json::array(), balanced = json::array();
  const size_t E = static_cast<size_t>(p.num_experts());
  for (int l = 0; l < p.num_layers(); ++l) {
    auto row = p.phy2log_row(l);
    phy2log.push_back(std::vector<int32_t>(row.begin(), row.end()));
    auto cnt = p.logcnt_row(l);
    logcnt.push_back(std::vector<int32_t>(cnt.begin(), cnt.end()));
    json experts = json::array();
    for (int e = 0; e < p.num_experts(); ++e) {
      std::vector<int32_t> slots(p.max_replicas());
      for (int r = 0; r < p.max_replicas(); ++r) slots[r] = p.log2phy(l, e, r);
      experts.push_back(std::move(slots));
    }
    log2phy.push_back(std::move(experts));
    auto loads = p.gpu_loads(l, weight.subspan(l * E, E));
    balanced.push_back(balancedness(loads));
    gpu_loads.push_back(std::move(loads));
  }
  return json{{"num_layers", p.num_layers()},   {"num_experts", p.num_experts()},
              {"num_replicas", p.num_slots()},  {"num_gpus", p.num_gpus()},
              {"num_nodes", p.num_nodes()},     {"phy2log", std::move(phy2log)},
              {"log2phy", std::move(log2phy)},  {"logcnt", std::move(logcnt)},
              {"gpu_loads", std::move(gpu_loads)}, {"balancedness", std::move(balanced)}};
}

}  // namespace epbench
