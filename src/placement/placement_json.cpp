// JSON form of a placement; see placement_json.hpp.
#include "placement/placement_json.hpp"

#include <stdexcept>

#include "common/error.hpp"
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

Placement placement_from_json(const nlohmann::json& doc, const std::string& source) {
  require_input(doc.is_object(), source + ": expected a JSON object (a placement file)");
  auto int_field = [&](const char* key) {
    require_input(doc.contains(key) && doc.at(key).is_number_integer() &&
                      doc.at(key).get<long long>() > 0 && doc.at(key).get<long long>() < (1 << 30),
                  source + ": field \"" + key + "\" must be a positive integer");
    return doc.at(key).get<int>();
  };
  const int experts = int_field("num_experts"), gpus = int_field("num_gpus"),
            nodes = int_field("num_nodes");
  require_input(doc.contains("phy2log") && doc.at("phy2log").is_array() &&
                    !doc.at("phy2log").empty(),
                source + ": field \"phy2log\" must be a non-empty array of per-layer arrays");
  const auto& rows = doc.at("phy2log");
  std::vector<int32_t> phy2log;
  size_t slots = 0;
  for (size_t l = 0; l < rows.size(); ++l) {
    require_input(rows[l].is_array(), source + ": phy2log layer " + std::to_string(l) +
                                          " is not an array");
    if (l == 0) slots = rows[l].size();
    require_input(rows[l].size() == slots && slots > 0,
                  source + ": phy2log layer " + std::to_string(l) + " has " +
                      std::to_string(rows[l].size()) + " slots, layer 0 has " +
                      std::to_string(slots));
    for (const auto& v : rows[l]) {
      require_input(v.is_number_integer() && v.get<long long>() >= 0 &&
                        v.get<long long>() < experts,
                    source + ": phy2log layer " + std::to_string(l) +
                        " holds an entry that is not an expert in [0, " +
                        std::to_string(experts) + ")");
      phy2log.push_back(v.get<int32_t>());
    }
  }
  try {  // the constructor checks the shape too (fewer slots than experts)
    Placement p(static_cast<int>(rows.size()), experts, gpus, nodes, std::move(phy2log));
    p.validate();
    return p;
  } catch (const std::logic_error& e) {
    throw InputError(source + ": " + e.what());
  }
}

}  // namespace epbench
