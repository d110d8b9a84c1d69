// Scenario: everything that defines one `epbench run` (model shape, token counts, skew,
// placement policies, rebalancing, verification). Built from a preset, then a scenario JSON
// file, then command-line flags (each later source overrides the earlier). Validates itself.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace epbench {

struct ModelShape {
  int hidden = 0, ffn = 0, num_experts = 0, top_k = 0, n_group = 1, topk_group = 1;
  std::string score = "softmax";
};

// Larger expert counts are refused up front: the router, load statistics and placements hold
// per-expert arrays per layer and the expert FFN allocates per slot (real models have at most
// a few hundred experts; 1M experts spends minutes in allocation alone).
inline constexpr int kMaxExperts = 1 << 16;

struct Scenario {
  std::string name = "small";  // preset name or "custom"
  ModelShape model;
  int tokens_per_rank = 0;
  int num_layers = 1;
  int warmup_steps = 2;
  int measured_steps = 10;
  std::string skew = "uniform";
  double drift = 0.0;
  std::string trace;  // CSV of recorded per-step per-expert counts; empty = router
  uint64_t seed = 1;
  std::vector<std::string> policies = {"none", "eplb"};
  int num_redundant_experts = -1;  // -1: one redundant slot per rank
  std::string replica_rule = "round-robin";
  int window_steps = 0;     // load-statistics window; 0: all warm-up steps
  int rebalance_every = 0;  // measured steps between rebalances; 0: once, after warm-up
  std::string verify = "all";  // "all" or "sample:N" (N tokens per rank, layer, measured step)
  std::string backend = "kokkos";
  std::string comm = "mpi";
  std::string dispatch = "flat";  // "flat" (one row per token and expert) or "node-dedup"
  std::string lplb_topology = "cube";  // policy lplb: cube, hypercube, torus or r2o:FILE
  int repeat = 1;                 // runs of every policy, interleaved (A B A B ...)
  int max_moved_experts = -1;     // per layer and re-placement (policy minmax); -1: no limit
  // Wall-clock cap on a search policy's re-placement (minmax), all layers; 0 = none, i.e. the
  // search runs to its end and the placement is deterministic.
  double placement_time_budget_ms = 0;
  bool phase_barriers = true;     // false: a pipelined step, only its total is meaningful
  double step_timeout_s = 300;    // a barrier not reached in this time aborts the job (exit 3)
  double comm_timeout_s = 300;    // --comm-timeout: bound of every blocking NCCL call and wait
  std::string label;

  // Checks that need no rank count. Throws InputError.
  void validate() const;
  // The skew spec parses, fits the model and gives every expert a finite, positive popularity
  // (part of validate()).
  void validate_skew() const;
  // Checks against the job: divisibility by ranks, redundant experts, nodes.
  void validate_for(int num_ranks, int num_nodes = 1) const;
  // Physical slots a policy places: experts (none), experts + the LPLB topology's copies
  // (lplb), else experts + redundant_experts_for.
  int slots_for(const std::string& policy, int num_ranks, int num_nodes) const;
  // With a trace and a load-based policy (placements are fitted on replayed steps): the run's
  // warm-up + measured steps must each replay a recorded step of their own, so a measured step
  // never wraps around onto a step some placement was fitted on. Throws InputError naming the
  // numbers. Policy "none" fits nothing, so any trace length is fine for it alone.
  void validate_trace_steps(int recorded_steps) const;
  int redundant_experts_for(int num_ranks) const;
  int verify_sample() const;  // 0 = all tokens
  nlohmann::json to_json() const;
};

std::vector<std::string> preset_names();
Scenario preset(const std::string& name);  // InputError on unknown names
// Applies the fields present in a scenario JSON object (unknown keys are an error).
void apply_scenario_json(const nlohmann::json& doc, const std::string& source, Scenario& s);

}  // namespace epbench
