// Exact port of DeepSeek's Expert Parallelism Load Balancer (eplb.py, rebalance_experts).
// Hierarchical policy (groups packed to nodes, replication within a node, replicas packed to
// GPUs) when num_groups % num_nodes == 0, else the global policy (one group, one node).
// Like the reference, all load arithmetic is float32; ties break as the reference's do
// (stable descending sort, first maximum, lowest-index minimum). With exactly tied loads,
// eplb.py as published may differ in which tied replica sits where: PyTorch's default CPU
// sort need not be stable (docs/placement.md, "Speed").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "placement/placement.hpp"

namespace epbench {

// The reference's arguments. weight is [num_layers][num_experts] row-major.
struct EplbProblem {
  int num_layers = 0;
  int num_experts = 0;
  std::vector<double> weight;
  int num_replicas = 0;
  int num_groups = 1;
  int num_nodes = 1;
  int num_gpus = 1;

  // Options beyond the reference's arguments; the defaults reproduce plain EPLB. EPLB itself
  // reads only num_threads; the others steer the search policies (minmax).
  int num_threads = 0;          // layer-parallel threads; 0 = hardware threads for big problems
  double time_budget_ms = 0.0;  // wall-clock cap on a search, all layers; 0 = none (deterministic)
  // Migration-aware rebalancing: the placement the cluster holds now (same layers, experts,
  // slots, GPUs, nodes) and the most expert weights a new placement may move per layer (slots
  // whose GPU did not hold that expert before; what the migration sends). -1 = no limit.
  std::optional<Placement> current = std::nullopt;
  int max_moved_experts = -1;

  // Throws InputError naming the first violated constraint (sizes, divisibility, loads that
  // are negative, NaN or infinite).
  void validate() const;
  bool hierarchical() const { return num_groups % num_nodes == 0; }
};

// Placement::log2phy lists an expert's slots in increasing order; the reference orders them by
// replica rank, an order the golden data says not to compare (replicas carry equal load).
struct EplbResult {
  Placement placement;
  std::string policy_used;  // "hierarchical" or "global"
};

// force_global: the global policy even when groups divide over nodes (the reference's
// rebalance_experts_hierarchical(weight, R, 1, 1, num_gpus)), for comparisons.
EplbResult rebalance_experts(const EplbProblem& problem, bool force_global = false);

}  // namespace epbench
