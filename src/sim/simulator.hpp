// `epbench simulate`: one policy run of a scenario on a cluster that is not there. Everything but
// the kernels and the wire is the suite's own code: the router (or trace) of `run`, the placement
// policy registry on the same statistics window, the dispatch planning and replica rules, the
// same rebalancing schedule. Per (step, layer) every rank's rows per slot and bytes per link
// class feed the cost model (cost_model.hpp), and the results carry the schema of `run`, plus
// "simulated": true and the profile. Single-threaded, no MPI; memory O(ranks x experts).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/profile.hpp"
#include "suite/scenario.hpp"

namespace epbench::sim {

struct Cluster {
  int num_gpus = 8;
  int gpus_per_node = 8;
  // CPU profiles: cores each rank's FFN runs on (below 1 when ranks oversubscribe the cores).
  double cores_per_rank = 1.0;
  int num_nodes() const { return num_gpus / gpus_per_node; }
};

// How routing is produced: "tokens" routes every rank's tokens with the real router or trace and
// plans them with the real dispatch plan (exactly what `run` does, router GEMM included: small
// clusters); "counts" samples per-rank per-expert counts from the router's shares (any size);
// "auto" = tokens for traces and when the router work is small, else counts.
struct StepTraffic;
struct LayerShape;

struct SimOptions {
  std::string routing = "auto";
  std::vector<std::string> argv;
  std::string version, git_hash;
  // Called for every measured sample, in the order `run` records samples (step, then layer),
  // with the policy's index in scenario.policies (used by `calibrate` to read the traffic).
  std::function<void(int policy_index, int layer, const StepTraffic&, const LayerShape&)>
      on_measured_sample;
};

// Checks the cluster against the scenario (InputError): GPUs divisible by GPUs per node,
// the scenario's rank rules (Scenario::validate_for), routing names.
void validate_simulation(const Scenario& s, const Cluster& c, const SimOptions& o);
// The routing mode "auto" resolves to.
std::string resolve_routing(const Scenario& s, const Cluster& c, const std::string& routing);

// A complete results document (schema of `run`, "simulated": true, "profile").
nlohmann::json simulate(const Scenario& s, const Cluster& c, const Profile& p,
                        const SimOptions& o);

}  // namespace epbench::sim
