// LPLB's placement; see lplb.hpp.
#include "placement/policies/lplb.hpp"

#include <algorithm>
#include <numeric>

#include "common/error.hpp"
#include "common/int_csv.hpp"

namespace epbench {
namespace {

constexpr const char* kFilePrefix = "r2o:";

// The cube of LPLB's example (8 GPUs, 2 copies each): copy 0 from the previous GPU of a ring
// over each half (0<-3, 1<-0, 2<-1, 3<-2; 4<-7, ...), copy 1 from a GPU of the other half.
constexpr int kCube[8][2] = {{3, 6}, {0, 7}, {1, 4}, {2, 5}, {7, 0}, {4, 1}, {5, 2}, {6, 3}};

std::vector<std::vector<int32_t>> r2o_from_file(const std::string& file, int num_gpus) {
  IntCsv csv = read_int_csv(file);
  require_input(csv.header.empty(), file + ": r2o has a non-numeric line \"" +
                                        (csv.header.empty() ? "" : csv.header[0]) + "...\"");
  require_input(int(csv.rows.size()) == num_gpus,
                file + ": r2o has " + std::to_string(csv.rows.size()) + " rows, expected one per GPU (" +
                    std::to_string(num_gpus) + ")");
  std::vector<std::vector<int32_t>> r2o(num_gpus);
  for (int g = 0; g < num_gpus; ++g) {
    const std::string where = file + ":" + std::to_string(csv.line_of_row[g]);
    require_input(csv.rows[g].size() == csv.rows[0].size(),
                  where + ": ragged r2o rows: " + std::to_string(csv.rows[g].size()) +
                      " values, the first row has " + std::to_string(csv.rows[0].size()));
    for (int64_t v : csv.rows[g]) {
      require_input(v >= 0 && v < num_gpus, where + ": GPU " + std::to_string(v) +
                                                " out of range [0, " + std::to_string(num_gpus) + ")");
      require_input(v != g, where + ": GPU " + std::to_string(g) + " copies from itself");
      r2o[g].push_back(int32_t(v));
    }
  }
  return r2o;
}

}  // namespace

void check_lplb_topology_name(const std::string& topology) {
  if (topology == "cube" || topology == "hypercube" || topology == "torus") return;
  if (topology.rfind(kFilePrefix, 0) == 0 && topology.size() > 4) return;
  throw InputError("unknown LPLB topology \"" + topology +
                   "\" (known: cube, hypercube, torus, r2o:FILE)");
}

std::vector<std::vector<int32_t>> lplb_r2o(const std::string& topology, int num_gpus,
                                           int num_nodes) {
  check_lplb_topology_name(topology);
  std::vector<std::vector<int32_t>> r2o(num_gpus);
  const std::string gpus = std::to_string(num_gpus);
  if (topology == "cube") {
    require_input(num_gpus % 8 == 0, "LPLB topology cube needs a multiple of 8 GPUs, got " + gpus);
    for (int g = 0; g < num_gpus; ++g)
      for (int i = 0; i < 2; ++i) r2o[g].push_back(g / 8 * 8 + kCube[g % 8][i]);
  } else if (topology == "hypercube") {
    require_input(num_gpus % 16 == 0,
                  "LPLB topology hypercube needs a multiple of 16 GPUs, got " + gpus);
    for (int g = 0; g < num_gpus; ++g)
      for (int i = 0; i < 4; ++i) r2o[g].push_back(g ^ (1 << i));
  } else if (topology == "torus") {
    const int per_node = num_gpus / std::max(num_nodes, 1);
    require_input(num_nodes >= 2 && per_node >= 2 && num_gpus % num_nodes == 0,
                  "LPLB topology torus needs >= 2 nodes of >= 2 GPUs, got " + gpus + " GPUs on " +
                      std::to_string(num_nodes) + " nodes");
    for (int g = 0; g < num_gpus; ++g) {
      const int node = g / per_node, local = g % per_node;
      r2o[g] = {int32_t(node * per_node + (local + 1) % per_node),
                int32_t((node + 1) % num_nodes * per_node + local)};
    }
  } else {
    r2o = r2o_from_file(topology.substr(4), num_gpus);
  }
  return r2o;
}

int lplb_num_slots(const std::string& topology, int num_experts, int num_gpus, int num_nodes) {
  const auto r2o = lplb_r2o(topology, num_gpus, num_nodes);
  return num_experts + int(r2o[0].size()) * num_gpus;
}

PolicyResult lplb_placement(const EplbProblem& p, const std::string& topology) {
  const int E = p.num_experts, G = p.num_gpus, L = p.num_layers;
  require_input(G > 0 && E % G == 0, "policy lplb places every expert once first: " +
                                         std::to_string(E) + " experts are not divisible by " +
                                         std::to_string(G) + " GPUs");
  p.validate();
  const auto r2o = lplb_r2o(topology, G, p.num_nodes);
  const int copies = int(r2o[0].size());
  const int per_gpu = E / G;
  require_input(per_gpu >= copies,
                "LPLB topology " + topology + " copies " + std::to_string(copies) +
                    " experts of each GPU: needs >= " + std::to_string(copies) +
                    " experts per GPU, got " + std::to_string(per_gpu));
  require_input(p.num_replicas == E + copies * G,
                "policy lplb with topology " + topology + " places " + std::to_string(E) +
                    " experts + " + std::to_string(copies) + " copies per GPU = " +
                    std::to_string(E + copies * G) + " replicas, got " +
                    std::to_string(p.num_replicas) + " (use --redundant-experts " +
                    std::to_string(copies * G) + ")");
  // EPLB with no replication orders the experts onto GPUs.
  EplbProblem order = p;
  order.num_replicas = E;
  EplbResult base = rebalance_experts(order);
  const int spr = per_gpu + copies;
  std::vector<int32_t> phy2log(size_t(L) * G * spr);
  std::vector<int32_t> heaviest(size_t(G) * per_gpu);  // per GPU: its experts, heaviest first
  for (int l = 0; l < L; ++l) {
    const double* w = p.weight.data() + size_t(l) * E;
    for (int g = 0; g < G; ++g) {
      int32_t* mine = heaviest.data() + size_t(g) * per_gpu;
      for (int i = 0; i < per_gpu; ++i) mine[i] = base.placement.phy2log(l, g * per_gpu + i);
      std::stable_sort(mine, mine + per_gpu, [&](int32_t a, int32_t b) { return w[a] > w[b]; });
    }
    int32_t* row = phy2log.data() + size_t(l) * G * spr;
    for (int g = 0; g < G; ++g) {
      for (int i = 0; i < per_gpu; ++i) row[g * spr + i] = heaviest[size_t(g) * per_gpu + i];
      for (int i = 0; i < copies; ++i)
        row[g * spr + per_gpu + i] = heaviest[size_t(r2o[g][i]) * per_gpu + i];
    }
  }
  return PolicyResult{Placement(L, E, G, p.num_nodes, std::move(phy2log)),
                      "lplb:" + topology};
}

PlacementPolicy make_lplb_policy(const std::string& topology) {
  return {"lplb", "DeepSeek LPLB: EPLB order, then copies of each GPU's heaviest experts along "
                  "a topology (--lplb-topology)",
          [topology](const EplbProblem& p) { return lplb_placement(p, topology); }};
}

PlacementPolicy make_lplb_policy() { return make_lplb_policy(kDefaultLplbTopology); }

PlacementPolicy configured_policy(const std::string& name, const std::string& lplb_topology) {
  if (name == "lplb") return make_lplb_policy(lplb_topology);
  return find_policy(name);
}

}  // namespace epbench
